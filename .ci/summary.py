"""CI's closing lines, from the log of its test phases (.ci/run): the ten slowest tests and test
binaries (times from .ci/test-runner), the skipped tests, and the totals on one
`ci: N passed, N failed, N skipped` line."""

import re
import sys

log, whole = sys.argv[1], int(sys.argv[2])
tests, binaries = [], []
passed = failed = 0
skipped = set()
binary = "?"
phase = "?"
for line in open(log, encoding="utf-8", errors="replace"):
    line = line.rstrip("\n")
    if m := re.match(r"ci-phase: (.+)$", line):
        phase = m.group(1)
    elif m := re.match(r"\s*Running (\S+) \(", line):
        binary = m.group(1)
    elif m := re.match(r"test (\S+) \.\.\. (?:ok|FAILED) <([0-9.]+)s>$", line):
        tests.append((float(m.group(2)), m.group(1), binary, phase))
    elif m := re.match(r"ci: test binary (\S+) took (\d+) ms", line):
        binaries.append((int(m.group(2)) / 1000, m.group(1), phase))
    elif m := re.match(r"test result: \w+\. (\d+) passed; (\d+) failed", line):
        passed += int(m.group(1))
        failed += int(m.group(2))
    elif line.startswith("note: skipped "):
        skipped.add((phase, line))

print("ci: the ten slowest tests")
for secs, name, where, ph in sorted(tests, reverse=True)[:10]:
    print(f"  {secs:7.1f} s  {name}  ({where}, {ph})")
print("ci: the ten slowest test binaries")
for secs, name, ph in sorted(binaries, reverse=True)[:10]:
    print(f"  {secs:7.1f} s  {name}  ({ph})")
for ph, line in sorted(skipped):
    print(f"ci: {ph}: {line}")
print(f"ci: {len(tests)} tests timed in {len(binaries)} test binary runs")
print(f"ci: whole run {whole} s")
print(f"ci: {passed} passed, {failed} failed, {len(skipped)} skipped")
