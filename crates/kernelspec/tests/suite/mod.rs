mod discover;
mod install;
mod jupyter_diff;
mod launch;
mod names;
mod paths;
mod spec_fixtures;
mod support;
