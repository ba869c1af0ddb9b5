//! Atomic install and remove on temporary dirs.

use std::fs;
use std::path::{Path, PathBuf};

use kernelspec::{
    install, remove, InstallError, InstallRequest, KernelName, KernelSpec, RemoveError,
};

fn spec(display: &str) -> KernelSpec {
    KernelSpec::new(
        vec![
            "python".into(),
            "-m".into(),
            "ipykernel_launcher".into(),
            "-f".into(),
            "{connection_file}".into(),
        ],
        display,
        "python",
    )
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn req<'a>(
    name: &'a KernelName,
    spec: &'a KernelSpec,
    dir: &'a Path,
    replace: bool,
) -> InstallRequest<'a> {
    InstallRequest {
        name,
        spec,
        kernels_dir: dir,
        resources: Vec::new(),
        replace,
    }
}

#[test]
fn install_creates_the_dir_and_writes_kernel_json_with_resources() {
    let tmp = tempfile::tempdir().unwrap();
    let kernels = tmp.path().join("share/jupyter/kernels");
    let logo = tmp.path().join("logo-64x64.png");
    fs::write(&logo, b"\x89PNG fake").unwrap();
    let extra_dir = tmp.path().join("assets");
    fs::create_dir(&extra_dir).unwrap();
    fs::write(extra_dir.join("kernel.js"), "x").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&logo, fs::Permissions::from_mode(0o640)).unwrap();
    }
    let name = KernelName::parse("My-Env").unwrap();
    let s = spec("My Env");
    let dest = install(&InstallRequest {
        resources: vec![logo.clone(), extra_dir.clone()],
        ..req(&name, &s, &kernels, false)
    })
    .unwrap();
    assert_eq!(dest, kernels.join("my-env"));
    assert_eq!(entries(&kernels), ["my-env"], "no temp dirs left behind");
    assert_eq!(entries(&dest), ["assets", "kernel.json", "logo-64x64.png"]);
    assert_eq!(
        fs::read_to_string(dest.join("kernel.json")).unwrap(),
        s.to_file_string()
    );
    assert_eq!(KernelSpec::load(&dest.join("kernel.json")).unwrap(), s);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dest.join("logo-64x64.png")), 0o640);
        assert_eq!(mode(&dest.join("kernel.json")), 0o644);
        assert_eq!(mode(&dest), 0o755);
    }
    assert_eq!(
        fs::metadata(dest.join("logo-64x64.png"))
            .unwrap()
            .modified()
            .unwrap(),
        fs::metadata(&logo).unwrap().modified().unwrap()
    );
}

#[test]
fn existing_spec_is_refused_without_replace() {
    let tmp = tempfile::tempdir().unwrap();
    let name = KernelName::parse("k").unwrap();
    let a = spec("A");
    install(&req(&name, &a, tmp.path(), false)).unwrap();
    let b = spec("B");
    let err = install(&req(&name, &b, tmp.path(), false)).unwrap_err();
    assert!(matches!(&err, InstallError::Exists { path } if *path == tmp.path().join("k")));
    assert!(err.to_string().contains("already exists"));
    assert_eq!(
        KernelSpec::load(&tmp.path().join("k/kernel.json"))
            .unwrap()
            .display_name,
        "A"
    );
    assert_eq!(entries(tmp.path()), ["k"]);
}

#[test]
fn replace_swaps_atomically_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let name = KernelName::parse("k").unwrap();
    let old = spec("old");
    let dest = install(&req(&name, &old, tmp.path(), false)).unwrap();
    fs::write(dest.join("stale-file"), "from the old spec").unwrap();
    let new = spec("new");
    let dest2 = install(&req(&name, &new, tmp.path(), true)).unwrap();
    assert_eq!(dest, dest2);
    assert_eq!(
        KernelSpec::load(&dest.join("kernel.json"))
            .unwrap()
            .display_name,
        "new"
    );
    assert!(
        !dest.join("stale-file").exists(),
        "the whole old dir is replaced"
    );
    assert_eq!(entries(tmp.path()), ["k"]);
}

#[test]
fn replace_over_a_symlink_replaces_the_link_not_its_target() {
    #[cfg(unix)]
    {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("target");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("kernel.json"), spec("target").to_file_string()).unwrap();
        let kernels = tmp.path().join("kernels");
        fs::create_dir(&kernels).unwrap();
        std::os::unix::fs::symlink(&target, kernels.join("k")).unwrap();
        let name = KernelName::parse("k").unwrap();
        let s = spec("new");
        install(&req(&name, &s, &kernels, true)).unwrap();
        assert!(!fs::symlink_metadata(kernels.join("k"))
            .unwrap()
            .is_symlink());
        assert_eq!(
            KernelSpec::load(&target.join("kernel.json"))
                .unwrap()
                .display_name,
            "target"
        );
        assert_eq!(entries(&kernels), ["k"]);
    }
}

#[test]
fn failed_install_leaves_the_old_spec_and_no_temp_dirs() {
    let tmp = tempfile::tempdir().unwrap();
    let name = KernelName::parse("k").unwrap();
    let old = spec("old");
    install(&req(&name, &old, tmp.path(), false)).unwrap();
    let new = spec("new");
    let missing: PathBuf = tmp.path().join("no-such-logo.png");
    let err = install(&InstallRequest {
        resources: vec![missing.clone()],
        ..req(&name, &new, tmp.path(), true)
    })
    .unwrap_err();
    assert!(err.to_string().contains("no-such-logo.png"), "{err}");
    assert_eq!(
        KernelSpec::load(&tmp.path().join("k/kernel.json"))
            .unwrap()
            .display_name,
        "old"
    );
    assert_eq!(
        entries(tmp.path()),
        ["k", "no-such-logo.png"]
            .iter()
            .filter(|e| **e == "k")
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
    );

    // A resource named kernel.json would be overwritten: refused.
    let clash = tmp.path().join("sub");
    fs::create_dir(&clash).unwrap();
    fs::write(clash.join("kernel.json"), "{}").unwrap();
    let err = install(&InstallRequest {
        resources: vec![clash.join("kernel.json")],
        ..req(&name, &new, tmp.path(), true)
    })
    .unwrap_err();
    assert!(matches!(err, InstallError::ResourceClash { .. }));
    assert_eq!(
        KernelSpec::load(&tmp.path().join("k/kernel.json"))
            .unwrap()
            .display_name,
        "old"
    );
}

#[cfg(unix)]
#[test]
fn permission_denied_is_its_own_variant() {
    use std::os::unix::fs::PermissionsExt;
    // Root may write anywhere: as root, the test runs again as an ordinary user.
    if crate::skip::rerun_unprivileged(kernelspec::running_as_root()) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ro = tmp.path().join("ro");
    fs::create_dir(&ro).unwrap();
    let name = KernelName::parse("k").unwrap();
    let s = spec("x");
    install(&req(&name, &s, &ro, false)).unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    let ierr = install(&req(&name, &s, &ro.join("sub"), false)).unwrap_err();
    let rerr = remove(&ro.join("k")).unwrap_err();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(
        matches!(ierr, InstallError::PermissionDenied { .. }),
        "{ierr:?}"
    );
    assert!(
        matches!(rerr, RemoveError::PermissionDenied { .. }),
        "{rerr:?}"
    );
}

#[test]
fn remove_deletes_a_dir_and_reports_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let name = KernelName::parse("k").unwrap();
    let s = spec("x");
    let dest = install(&req(&name, &s, tmp.path(), false)).unwrap();
    fs::create_dir(dest.join("nested")).unwrap();
    fs::write(dest.join("nested/file"), "x").unwrap();
    remove(&dest).unwrap();
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));
    let err = remove(&dest).unwrap_err();
    assert!(matches!(&err, RemoveError::NotFound { path } if *path == dest));
    assert!(err.to_string().contains(&dest.display().to_string()));
}

#[cfg(unix)]
#[test]
fn remove_unlinks_a_symlink_and_keeps_its_target() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("target");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("kernel.json"), "{}").unwrap();
    let kernels = tmp.path().join("kernels");
    fs::create_dir(&kernels).unwrap();
    let link = kernels.join("k");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    remove(&link).unwrap();
    assert!(fs::symlink_metadata(&link).is_err());
    assert!(target.join("kernel.json").is_file());
    assert!(entries(&kernels).is_empty());
}
