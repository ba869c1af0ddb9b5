//! The entries compiled into `kernels`: what the managed cloud images ship and Jupyter needs.
//! They protect these where they exist; none is required (a machine without them is fine).

use super::{Entry, Source, Target};

/// Environments of the cloud images (the conda base is [`Target::CondaBase`]).
const ENV_NAMES: &[&str] = &[
    "azureml_py36",
    "azureml_py38",
    "azureml_py310_sdkv2",
    "jupyter-env",
];

/// Kernel names the images ship, old and new.
const KERNEL_NAMES: &[&str] = &[
    "python3-azureml",
    "python38-azureml",
    "python310-sdkv2",
    "azureml_py36",
    "azureml_py38",
];

/// Display names of those kernels.
const DISPLAY_NAMES: &[&str] = &[
    "Python 3.6 - AzureML",
    "Python 3.8 - AzureML",
    "Python 3.10 - SDK v2",
];

/// The built-in entries, in a fixed order.
pub fn builtin_entries() -> Vec<Entry> {
    let entry = |target| Entry {
        target,
        required: false,
        source: Source::BuiltIn,
        reason: None,
    };
    let mut out = vec![entry(Target::CondaBase)];
    out.extend(
        ENV_NAMES
            .iter()
            .map(|n| entry(Target::EnvName((*n).to_string()))),
    );
    out.extend(
        KERNEL_NAMES
            .iter()
            .map(|n| entry(Target::Kernel((*n).to_string()))),
    );
    out.extend(
        DISPLAY_NAMES
            .iter()
            .map(|n| entry(Target::DisplayName((*n).to_string()))),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_cover_the_image_and_require_nothing() {
        let all = builtin_entries();
        assert!(all
            .iter()
            .all(|e| !e.required && e.source == Source::BuiltIn));
        assert!(all.contains(&Entry {
            target: Target::Kernel("python38-azureml".into()),
            required: false,
            source: Source::BuiltIn,
            reason: None
        }));
        assert!(all.iter().any(|e| e.target == Target::CondaBase));
        assert!(all
            .iter()
            .any(|e| e.target == Target::EnvName("jupyter-env".into())));
        // Kernel names are stored lowercase, as they are matched.
        for e in &all {
            if let Target::Kernel(n) = &e.target {
                assert_eq!(n, &n.to_ascii_lowercase());
            }
        }
    }
}
