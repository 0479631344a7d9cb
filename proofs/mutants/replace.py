#!/usr/bin/env python3
"""replace.py FILE OLD NEW: replaces the one occurrence of OLD in FILE by NEW; exit 3 if OLD occurs
zero or several times (the mutant no longer fits core and needs re-targeting)."""
import sys
path, old, new = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
n = text.count(old)
if n != 1:
    sys.stderr.write("mutant does not apply: %d occurrences in %s of:\n%s\n" % (n, path, old))
    sys.exit(3)
open(path, "w").write(text.replace(old, new, 1))
