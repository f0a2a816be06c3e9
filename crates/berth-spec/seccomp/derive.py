#!/usr/bin/env python3
"""Derives docker-default.json (Docker's profile format, with `includes`/`excludes` by
capability) from the profiles that dockerd 20.10 handed runc for `docker run` with the default
capabilities (`default.json`), with each default capability dropped (`drop-CAP.json`) and with
each other capability added (`add-CAP.json`): usage `derive.py CAPTURE_DIR > docker-default.json`.
Every file in CAPTURE_DIR is a whole config.json as copied by a capture runtime (the wrapper
script CAPTURE_SCRIPT in ../tests/dockerd.rs, registered with `dockerd --add-runtime
capture=PATH`) for `docker run --runtime capture --network none [--cap-add|--cap-drop CAP]
busybox true`. An entry that appears only when a capability is present is included on that
capability; one that disappears when it is present is excluded on it. The test
`each_capability_matches_dockerd` checks the result against dockerd for every capability."""
import json
import os
import sys


def load(path):
    with open(path) as f:
        return json.load(f)["linux"]["seccomp"]


def key(entry):
    return json.dumps(entry, sort_keys=True)


def main():
    d = sys.argv[1]
    base = load(os.path.join(d, "default.json"))
    out = [dict(e) for e in base["syscalls"]]
    base_keys = [key(e) for e in base["syscalls"]]
    keys = list(base_keys)
    for name in sorted(os.listdir(d)):
        if name == "default.json":
            continue
        kind, cap = name[: -len(".json")].split("-", 1)
        cap = "CAP_" + cap
        other = load(os.path.join(d, name))
        okeys = [key(e) for e in other["syscalls"]]
        # With the cap present (added) or absent (dropped), compared with the default set.
        present, absent = (okeys, base_keys) if kind == "add" else (base_keys, okeys)
        for i, k in enumerate(present):
            if k not in absent and k not in keys:
                # New with the cap: insert after its predecessor in the capture.
                entry = dict(other["syscalls"][i])
                entry["includes"] = {"caps": [cap]}
                prev = okeys[i - 1] if i > 0 else None
                at = keys.index(prev) + 1 if prev in keys else len(keys)
                out.insert(at, entry)
                keys.insert(at, k)
            elif k not in absent:
                out[keys.index(k)].setdefault("includes", {})["caps"] = [cap]
        for k in absent:
            if k not in present:
                out[keys.index(k)].setdefault("excludes", {})["caps"] = [cap]
    profile = {
        "defaultAction": base["defaultAction"],
        "architectures": base.get("architectures", []),
        "syscalls": out,
    }
    json.dump(profile, sys.stdout, indent=1)
    sys.stdout.write("\n")


main()
