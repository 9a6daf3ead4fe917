#!/usr/bin/python3
"""The minimal work of a Python pipeline tool (DVC-style) for a no-op repro of
the four demo stages, without the tool's own import cost: parse a YAML lock
file, parse the params file, and for each stage check every dependency and
output against the lock - a file's MD5 comes from an SQLite state table keyed
by inode, mtime and size, so nothing is re-read - then report each stage as
unchanged. --init hashes the workspace once and writes the lock and state.

usage: baseline_noop.py --init WS PARAMS DIR   (writes DIR/lock.yaml, DIR/state.db)
       baseline_noop.py WS PARAMS DIR          (checks; exit 1 if a stage changed)
"""
import configparser
import hashlib
import os
import sqlite3
import sys

import yaml

STAGES = [("prepare", ["downloads"]), ("train", ["prepare"]),
          ("validate", ["train", "prepare"]), ("package", ["train", "prepare"])]


def files_under(ws, rel):
    """Sorted workspace-relative paths of the files under ws/rel."""
    out = []
    for root, _, names in os.walk(os.path.join(ws, rel)):
        out += [os.path.relpath(os.path.join(root, n), ws) for n in names]
    return sorted(out)


def md5_of(db, path):
    """MD5 of path through the state table; hashes only on a miss."""
    st = os.stat(path)
    key = (st.st_ino, st.st_mtime_ns, st.st_size)
    row = db.execute("SELECT md5 FROM state WHERE inode=? AND mtime=? AND size=?", key).fetchone()
    if row:
        return row[0]
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    db.execute("INSERT OR REPLACE INTO state VALUES (?, ?, ?, ?)", key + (h.hexdigest(),))
    return h.hexdigest()


def params_of(path, section):
    """The stage's parameters, as the tool would track them."""
    cp = configparser.ConfigParser(inline_comment_prefixes=(";",))
    cp.read(path)
    return dict(cp[section]) if cp.has_section(section) else {}


def main():
    init = sys.argv[1] == "--init"
    ws, params, state_dir = sys.argv[2:5] if init else sys.argv[1:4]
    db = sqlite3.connect(os.path.join(state_dir, "state.db"))
    db.execute("CREATE TABLE IF NOT EXISTS state (inode INTEGER, mtime INTEGER, size INTEGER, md5 TEXT, "
               "PRIMARY KEY (inode, mtime, size))")
    lock_path = os.path.join(state_dir, "lock.yaml")
    lock = {} if init else yaml.safe_load(open(lock_path))["stages"]
    changed = 0
    for name, deps in STAGES:
        entry = {"deps": [{"path": p, "md5": md5_of(db, os.path.join(ws, p))}
                          for d in deps for p in files_under(ws, d)],
                 "outs": [{"path": p, "md5": md5_of(db, os.path.join(ws, p))} for p in files_under(ws, name)],
                 "params": params_of(params, name)}
        if init:
            lock[name] = entry
        elif lock.get(name) != entry:
            print("Stage '%s' changed" % name)
            changed += 1
        else:
            print("Stage '%s' didn't change, skipping" % name)
    db.commit()
    if init:
        with open(lock_path, "w") as f:
            yaml.safe_dump({"schema": "2.0", "stages": lock}, f)
    else:
        print("Data and pipelines are up to date.")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
