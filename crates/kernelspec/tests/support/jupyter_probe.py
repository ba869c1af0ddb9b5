"""Ask the real jupyter_client/jupyter_core what they see; print one JSON document.

Used by the differential tests of the kernelspec crate. Modes:
  load DIR...   -> [{"dir", "ok": to_dict(), "text": json.dumps(to_dict(), indent=2)} | {"dir", "error"}]
  paths         -> {"prefix", "data": jupyter_path(), "kernel_dirs": KernelSpecManager().kernel_dirs}
  discover      -> {"found": find_kernel_specs(), "all": get_all_specs()}  (no synthetic python3)
"""
import json
import sys
import warnings

warnings.simplefilter("ignore")


def load(dirs):
    from jupyter_client.kernelspec import KernelSpec

    out = []
    for d in dirs:
        try:
            spec = KernelSpec.from_resource_dir(d)
            d2 = spec.to_dict()
            out.append(
                {
                    "dir": d,
                    "ok": json.loads(json.dumps(d2), parse_constant=lambda c: "<" + c + ">"),
                    "text": json.dumps(d2, indent=2),
                }
            )
        except BaseException as e:  # noqa: BLE001 - every failure is a data point here
            out.append({"dir": d, "error": type(e).__name__})
    return out


def main():
    mode = sys.argv[1]
    if mode == "load":
        result = load(sys.argv[2:])
    elif mode == "paths":
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_core.paths import jupyter_path

        result = {
            "prefix": sys.prefix,
            "data": jupyter_path(),
            "kernel_dirs": KernelSpecManager().kernel_dirs,
        }
    elif mode == "discover":
        from jupyter_client.kernelspec import KernelSpecManager

        ksm = KernelSpecManager(ensure_native_kernel=False)
        result = {"found": ksm.find_kernel_specs(), "all": ksm.get_all_specs()}
    else:
        raise SystemExit("unknown mode " + mode)
    print(json.dumps(result))


main()
