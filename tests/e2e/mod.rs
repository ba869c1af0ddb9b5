//! End-to-end tests, one module per area.

mod add;
mod add_conda;
mod apply;
mod cli;
mod clone;
mod docs;
mod doctor;
mod envs;
mod export;
mod install;
mod jupyterlab;
mod list_diff;
mod list_show_remove;
mod policy;
mod prune;
mod rebind;
mod reliability;
mod run;
