"""Start a kernel by name with the real jupyter_client, run code in it, print one JSON object.

Used by the end-to-end tests to prove that a kernel registered by `kernels` is found by
Jupyter and really works. Usage:

    python run_kernel.py KERNEL_NAME CODE [--interrupt-after SECONDS] [--timeout SECONDS]

Output (stdout): {"status": "ok"|"error", "stdout": "...", "stderr": "...",
                  "ename": ..., "evalue": ..., "elapsed": seconds from execute to reply}
Exit code 0 when the kernel started and replied; 2 when it could not start.
"""

import argparse
import json
import sys
import time

from jupyter_client.manager import start_new_kernel


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("kernel")
    parser.add_argument("code")
    parser.add_argument("--interrupt-after", type=float, default=None)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    try:
        km, kc = start_new_kernel(kernel_name=args.kernel, startup_timeout=args.timeout)
    except Exception as exc:  # report, do not trace back
        print(json.dumps({"status": "start-failed", "error": f"{type(exc).__name__}: {exc}"}))
        return 2
    result = {"status": None, "stdout": "", "stderr": "", "ename": None, "evalue": None}
    try:
        started = time.monotonic()
        msg_id = kc.execute(args.code)
        interrupted = args.interrupt_after is None
        deadline = started + args.timeout
        while True:
            if not interrupted and time.monotonic() - started >= args.interrupt_after:
                km.interrupt_kernel()
                interrupted = True
            try:
                msg = kc.get_iopub_msg(timeout=0.2)
            except Exception:
                if time.monotonic() > deadline:
                    result["status"] = "timeout"
                    break
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            content = msg["content"]
            if kind == "stream":
                result[content["name"]] += content["text"]
            elif kind == "error":
                result["ename"] = content["ename"]
                result["evalue"] = content["evalue"]
            elif kind == "status" and content["execution_state"] == "idle":
                break
        reply = kc.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
        result["status"] = result["status"] or reply["content"]["status"]
        result["elapsed"] = time.monotonic() - started
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
