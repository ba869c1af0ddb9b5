//! End-to-end tests, one module per area.

mod add;
mod add_conda;
mod apply;
mod cli;
mod docs;
mod doctor;
mod envs;
mod install;
mod list_diff;
mod list_show_remove;
mod policy;
mod prune;
mod rebind;
mod reliability;
mod snapshots;
