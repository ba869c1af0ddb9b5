//! End-to-end tests, one module per area.

mod cli;
mod list_diff;
mod list_show_remove;
mod rebind;
mod policy;
mod doctor;
mod add;
mod add_conda;
mod apply;
mod docs;
mod envs;
mod install;
mod reliability;
mod prune;
