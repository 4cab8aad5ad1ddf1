#!/usr/bin/env python3
"""Writes Tests/EdgeLogCoreTests/RegexCases.swift: what Python's `re` answers for a corpus of patterns and texts,
the expectations of EdgeLog's linear-time matcher (Core's `Regex`), which follows `re` with `re.ASCII`.

A result is null for no match, else the byte offsets (UTF-8) of the match and of every group, -1 for a group that
took no part. Groups are left out (only the match) for patterns
whose repeated group can match the empty string, where `re` (Perl's rule) and a Pike VM (RE2's rule) may
capture differently; patterns where even the match differs are not in the corpus (see the test).

    scripts/gen-regex-cases.py > Tests/EdgeLogCoreTests/RegexCases.swift
"""
import json, random, re, sys

# Hand-written: the syntax the matcher supports, edge cases of Python's parser, and log-shaped patterns.
PATTERNS = [
    # literals and dot
    "error", "Error", "timed out", "a.c", r"a\.c", ".", ".+", "a.*b", "a.*?b", "", "ü", "✓", ".✓", r"\t", r"\n",
    # anchors
    "^abc", "abc$", "^$", "^", "$", "a$", r"\Aab", r"ab\Z", r"\bword\b", r"\Bor\B", r"\b", r"\B",
    # classes
    "[abc]+", "[^abc]+", "[a-z]+", "[A-Za-z_][A-Za-z0-9_]*", r"[^\s]+", r"[\d.]+", "[-a]+", "[a-]+", "[]a]+",
    "[^]a]+", r"[\]]", r"[\w-]+", "[é-ü]+", "[^é]", r"[\D]+", r"[^\W\d]+", r"[\s\S]", "[.]", r"[\\]", "[✓a]+",
    # escapes
    r"\d+", r"\D+", r"\w+", r"\W+", r"\s+", r"\S+", r"\x41", r"\u00e9", r"\x7b", r"\{", r"\$\d", r"\0",
    # groups and alternation
    "(a)(b)?", "(a|ab)(c|bcd)(d*)", "(?:ab)+", "(a+)(b+)?c", "((a)|b)+", r"(?P<x>\d+)-(?P<y>\d+)", "cat|dog",
    "a|ab|abc", "ab|a", "(foo|foobar)bar", "(a)|(b)", "(a(b(c)))", "(?:)", "()", "(a?)", "x(?#comment)y",
    # quantifiers
    "a*", "a+?", "a*?b", "a{2}", "a{2,}", "a{,2}", "a{1,3}?", "(ab){2,3}", "x{0}", "a{", "a{1", "a{,}", "a{1,2",
    r"\d{1,3}(\.\d{1,3}){3}", "a??b", "(ab)*?c", "a{0,0}b", "[ab]{3,5}", "(a|b){2}",
    # flags
    "(?i)error", "(?i)[a-c]+", "(?i:ab)c", "(?s)a.b", "a.b", "(?m)^b", "(?m)a$", "(?i)[^a]+", "(?i)é", "(?i)ÉRROR",
    "(?-i:a)", "(?i)(?-i:a)B", "(?ms)^a.b$", "(?i)\\bSharedAccessKey=",
    # linear time on what backtracks in Python (short texts here; the long ones are in the unit tests)
    "(a*)*b", "(a+)+b", "(a|aa)+$", "(x+x+)+y", "(.*)*z", "(a|a)*c",
    # log-shaped
    r"SharedAccessKey=[^;\s]+", r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]+=*", r"\bsig=[^&\s]+",
    r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+", r"Processed (\d+) messages", r"^<([0-7])>",
    r'temperature": ([\d.]+)', r"(?i)(error|warn(ing)?)", r"line (\d+)", r"^\s*at ", r"\[(\w+)\]",
]

TEXTS = [
    "", "a", "b", "ab", "aaab", "abc", "xabcx", "ab\n", "a\nb", "a\n", "\n", "cat dog", "foobarbar", "abcd", "bcd",
    "error: timed out", "Error ERROR eRRor", "é ü ✓", "ÉRROR érror", "12.34.56.78", "1.2.3", "a{1,2", "a{", "x{0}y",
    "word words sword", "{$5 and $6}", "a\tb", "aaaa", "acbd", "foo-bar_baz 42", " \t\n", "a]b", "-a-", "\\", "\x00",
    "<4> 2026 [EdgeHub] Processed 17 messages for device 3", 'Sending message: {"machine": {"temperature": 97.5}}',
    "\tat Module.Handler.Process(Message m) in /src/Handler.cs:line 42 \"quoted\" ü ✓",
    "HostName=hub.azure-devices.net;DeviceId=d1;SharedAccessKey=c2VjcmV0PT0=;x=1",
    "Authorization: Bearer eyJhbGciOi.eyJzdWIiOiIx.SflKxwRJSM",
    "https://acct.blob.core.windows.net/c/b?sv=2021&sig=abc%2Bdef%3D&se=2026", "xxxxxxxxxxxxy", "aaaaaaaaaaaaaaaaac",
]

# Patterns that make Python backtrack exponentially: only the short texts.
BACKTRACKING = {"(a*)*b", "(a+)+b", "(a|aa)+$", "(x+x+)+y", "(.*)*z", "(a|a)*c"}

# Patterns whose repeated group can match the empty string: compare the match only, not the groups.
SPAN_ONLY = {"(a*)*b", "(.*)*z", "((a)|b)+", "(a?)"}


def random_pattern(rng, depth=0):
    """A pattern over a, b and c from a small grammar, and whether it can match the empty string."""
    kind = rng.random() if depth < 3 else 0
    if kind < 0.35:
        atom = rng.choice(["a", "b", "c", ".", "[ab]", "[^a]", r"\w", r"\s", "a", "b"])
        return atom, False
    if kind < 0.55:
        parts = [random_pattern(rng, depth + 1) for _ in range(rng.randint(2, 3))]
        return "".join(p for p, _ in parts), all(e for _, e in parts)
    if kind < 0.7:
        parts = [random_pattern(rng, depth + 1) for _ in range(2)]
        return "(" + "|".join(p for p, _ in parts) + ")", any(e for _, e in parts)
    body, empty = random_pattern(rng, depth + 1)
    q = rng.choice(["*", "+", "?", "*?", "+?", "{1,2}", "{2}", "{0,2}?"])
    if empty and q not in ("?", "{2}"):
        return body, empty  # a repeated group that can match empty: Perl's and RE2's rules differ
    can_be_empty = empty or q[0] in "*?" or q.startswith("{0")
    return "(" + body + ")" + q, can_be_empty


def span(m, text):
    if m is None:
        return None
    def b(i):
        return -1 if i < 0 else len(text[:i].encode())
    out = [b(m.start()), b(m.end())]
    for g in range(1, (m.re.groups or 0) + 1):
        s, e = m.span(g)
        out += [b(s), b(e)]
    return out


def main():
    rng = random.Random(16)
    rows = []
    for p in PATTERNS:
        r = re.compile(p, re.ASCII)
        results = []
        for t in TEXTS:
            if p in BACKTRACKING and len(t) > 20:
                results.append("skip")
                continue
            s = span(r.search(t), t)
            if p in SPAN_ONLY and s is not None:
                s = s[:2]
            results.append(s)
        rows.append([p, results])
    seen = set()
    random_rows = []
    while len(seen) < 250:
        p, _ = random_pattern(rng)
        if p in seen:
            continue
        seen.add(p)
        r = re.compile(p, re.ASCII)
        for _ in range(6):
            t = "".join(rng.choice("aabbc ") for _ in range(rng.randint(0, 12)))
            random_rows.append([p, t, span(r.search(t), t)])
    def block(name, lines):
        assert not any('"""#' in l for l in lines)
        return "let %s = #\"\"\"\n%s\n\"\"\"#\n" % (name, "\n".join(lines))
    print("// Generated by scripts/gen-regex-cases.py from Python %d.%d's `re` (re.ASCII); do not edit." % sys.version_info[:2])
    print("// A result is null (no match) or the UTF-8 byte offsets [start, end, group 1 start, end, ...], -1 for a")
    print("// group that took no part; \"skip\" where Python itself would take too long.")
    print("")
    print("/// The texts every hand-written pattern is tried on, as one JSON array.")
    print(block("regexTexts", [json.dumps(TEXTS, ensure_ascii=True)]))
    print("/// [pattern, [result for each of regexTexts]], one pattern a line.")
    print(block("regexPatternCases", [json.dumps(r, ensure_ascii=True, separators=(",", ":")) for r in rows]))
    print("/// [pattern, text, result]: random patterns over a, b, c from a small grammar.")
    print(block("regexRandomCases", [json.dumps(r, ensure_ascii=True, separators=(",", ":")) for r in random_rows]), end="")


main()
