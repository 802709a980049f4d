"""Reads cargo's JSON messages on stdin and prints the executable of each
example named in argv, in that order; fails naming any example cargo did
not build (so a renamed example cannot silently stop running)."""
import json
import sys

wanted = sys.argv[1:]
found = {}
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") != "compiler-artifact":
        continue
    target = message["target"]
    if "example" in target["kind"] and message.get("executable"):
        found[target["name"]] = message["executable"]
missing = [name for name in wanted if name not in found]
if missing:
    sys.exit(f"examples.py: cargo built no example named {', '.join(missing)}")
print("\n".join(found[name] for name in wanted))
