//! A pcapng writer for raw IP packets (LINKTYPE_RAW), one interface per path.
