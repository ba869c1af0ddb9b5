//! End-to-end tests, one module per area.

mod add;
mod add_conda;
mod add_own_uv;
#[cfg(feature = "rattler")]
mod add_rattler;
mod apply;
mod chaos;
mod cli;
mod clone;
mod docs;
mod doctor;
mod envs;
mod export;
mod hostile_delete;
mod hostile_root;
mod install;
mod jupyterlab;
mod list_diff;
mod list_show_remove;
mod policy;
mod prune;
mod rebind;
mod reliability;
mod run;
mod snapshots;
mod version;
