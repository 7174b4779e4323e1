//! The local mesh demo: each scenario is an attack (or the honest flow) from the seeds,
//! run through real Envoys, with the control that must stop it and what was observed.

pub mod report;
pub mod scenarios;
pub mod up;
