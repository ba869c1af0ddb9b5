"""Load each kernel spec dir given on the command line with jupyter_client.

Prints one JSON object per line: {"dir": ..., "ok": <to_dict()>} or {"dir": ..., "error": <type name>}.
Used by the differential test to compare our loader with Jupyter's.
"""
import json
import sys
import warnings

from jupyter_client.kernelspec import KernelSpec

warnings.simplefilter("ignore")
for d in sys.argv[1:]:
    try:
        spec = KernelSpec.from_resource_dir(d)
        # allow_nan mirrors `jupyter kernelspec list --json`, which uses json.dumps defaults
        out = {"dir": d, "ok": json.loads(json.dumps(spec.to_dict()), parse_constant=lambda c: "<" + c + ">")}
    except BaseException as e:  # noqa: BLE001 - every failure is a data point here
        out = {"dir": d, "error": type(e).__name__, "message": str(e)[:200]}
    print(json.dumps(out))
