//! Per-subflow congestion control: the `Controller` trait, NewReno and CUBIC.
