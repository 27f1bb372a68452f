"""Runs a command and prints its wall time and the peak of the summed resident memory of its whole
process tree (nnUNetv2_predict starts worker processes; /usr/bin/time sees only one process).

    python process_tree.py COMMAND [ARGS...]   ->  {"seconds": ..., "peak_rss_bytes": ...} on the last line
"""
import json
import os
import subprocess
import sys
import time


def tree_rss(root):
    children = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(pid))
        except OSError:
            continue
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


start = time.time()
process = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
peak = 0
while process.poll() is None:
    peak = max(peak, tree_rss(process.pid))
    time.sleep(0.05)
seconds = time.time() - start
if process.returncode != 0:
    sys.exit(f"{sys.argv[1]} exited with {process.returncode}")
print(json.dumps({"seconds": round(seconds, 2), "peak_rss_bytes": peak}))
