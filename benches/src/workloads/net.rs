//! Workloads of the net area (see mod.rs for the convention). Each entry's
//! name must match a workload of the Go program in benches/go.

pub(crate) const WORKLOADS: &[(&str, fn())] = &[];
