"""Which parts of a file mapped from a Secret are secret (issue 20; second review of s19, finding 4). Pure.

One answer serves two readers, so they cannot disagree:
- the inputs digest (and the init key) hashes a home file with its secret parts replaced by `***` where they
  stand (`structure_of`): what decides what a run fetches counts, what only proves who the run is does not,
  so rotating a token, a password or a key neither re-plans nor discards a plan waiting for approval;
- the scrubber and the readable plan hide those parts on their own (`secret_forms`), and nothing else of the
  file, so URLs, paths and host names stay readable in every message.

The rule: *only secret material is replaced; every setting that decides what is fetched stays*. The files git,
ssh and curl read are parsed, because a pattern cannot tell a URL path (`org/Platform2/terraform-Modules`)
from a token, and a digest that loses the path misses a re-pointed module source:
- `.gitconfig` (`.config/git/config`): section and subsection names (userinfo of a URL in them excepted),
  every key and value, so `url.<base>.insteadOf`/`pushInsteadOf` and `http.<url>.*` count; secret: the value of
  `http.extraHeader` after the header's name, the value of a key naming a password or token
  (`sendemail.smtpPass`, `hub.oauthtoken`), a URL's userinfo password (the user too for http(s), as
  api/redact.py), and of `credential.helper` only the helper's name counts (its arguments are masked in the
  digest, and hidden in messages where they look secret: an inline `!f() { echo password=…; }`);
- `.ssh/config` (`.ssh/config.d/…`): every keyword and value counts (`Host`, `HostName`, `Port`, `User`,
  `IdentityFile` paths); nothing in it is secret;
- `.netrc` (`_netrc`): `machine`, `default`, `login` count; the values of `password` and `account` are secret
  (of any length: a one-character password is still not hashed);
- `.git-credentials` (`.config/git/credentials`): scheme, user, host and path count; the password is secret
  (also percent-decoded), and a bare `https://TOKEN@host` user;
- `.ssh/known_hosts*`: whole and public; `.ssh/id_*` private keys: wholly secret; their `.pub` halves are
  public but rotate with the key, so they are masked in the digest without being hidden in messages.
- Comment lines of these files, and any other file, get the conservative patterns: PEM blocks, runs of 20+
  base64url characters (no `/` or `.`: URL paths and dotted host names are not key material) that mix upper
  case, lower case and digits and change character class often (random text does, `TerraformModules2024`
  does not), 32+ hex digits, the value after a secret-naming key, URL userinfo.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote

REDACTED = "***"


@dataclass(frozen=True)
class Part:
    """`content[start:end]` is masked in the digest; when `secret`, it (and `extra`, other forms of it a tool
    may print alone: the token of an `Authorization` value, a decoded password) is hidden in messages."""

    start: int
    end: int
    secret: bool = True
    extra: tuple[str, ...] = ()


# --- the conservative patterns (unknown files, comments) -------------------------------------------------
_SECRET_KEY = (r"[\w.-]*?(?:password|passwd|passphrase|pwd|token|secret|api[_-]?key|private[_-]?key|access[_-]?key)"
               r"[\w.-]*")
_VALUE = r"(?P<value>\"[^\"\n]*\"|'[^'\n]*'|[^\s\"']+)"
_ASSIGNED = re.compile(rf"(?i)(?<![\w]){_SECRET_KEY}[\"']?\s*[=:]\s*{_VALUE}")
_NETRC_WORD = re.compile(rf"(?i)(?<![\w-])(?:password|passwd)\s+{_VALUE}")
NOT_SECRET = {"yes", "no", "true", "false", "on", "off", "null", "none"}  # `PasswordAuthentication no`
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----(?P<body>.*?)-----END [A-Z0-9 ]+-----", re.S)
_RUN = re.compile(r"(?<![A-Za-z0-9+=_-])[A-Za-z0-9+=_-]{20,}(?![A-Za-z0-9+=_-])")
_HEX = re.compile(r"(?i)\b[0-9a-f]{32,}\b")
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://(?P<user>[^/@\s:]*)(?::(?P<password>[^/@\s]*))?@")
_CLASS_CHANGES = 0.35  # share of neighbouring letters/digits of another class: ~0.6 in random text, ~0.2 in words


def key_material(run: str) -> bool:
    """Random text of 20+ characters mixes upper and lower case letters and digits, and changes character
    class between most neighbours; words, CamelCase names and `Name-2024` path segments do not. Pure."""
    if not (any(c.isupper() for c in run) and any(c.islower() for c in run) and any(c.isdigit() for c in run)):
        return False
    classes = [_class(c) for c in run]
    pairs = [(a, b) for a, b in zip(classes, classes[1:], strict=False) if a < 3 and b < 3]  # not `-`, `_`…
    return sum(a != b for a, b in pairs) >= _CLASS_CHANGES * max(len(pairs), 1)


def _class(c: str) -> int:
    return 0 if c.isupper() else 1 if c.islower() else 2 if c.isdigit() else 3


def pattern_parts(content: str, offset: int = 0) -> list[Part]:
    """The parts of `content` (at `offset` in the file) the conservative patterns find."""
    parts = []
    for block in _PEM.finditer(content):
        body = [line.strip() for line in block.group("body").splitlines()]
        extra = ("".join(body), *(line for line in body if line and ":" not in line))  # not `Proc-Type: …`
        parts.append(Part(offset + block.start(), offset + block.end(), extra=extra))
    parts += [Part(offset + m.start(), offset + m.end()) for m in _RUN.finditer(content) if key_material(m.group())]
    parts += [Part(offset + m.start(), offset + m.end()) for m in _HEX.finditer(content)]
    for match in [*_ASSIGNED.finditer(content), *_NETRC_WORD.finditer(content)]:
        part = _value_part(content, match.start("value"), match.end("value"), offset)
        if part is not None:
            parts.append(part)
    return parts + userinfo_parts(content, offset)


def _value_part(text: str, start: int, end: int, offset: int) -> Part | None:
    """The part of a value after a secret-naming key: without its quotes and a trailing `,`/`;`; none for
    `no`, `true`… ."""
    while end > start and text[end - 1] in ",;":
        end -= 1
    if end - start >= 2 and text[start] == text[end - 1] and text[start] in "\"'":
        start, end = start + 1, end - 1
    if end <= start or text[start:end].lower() in NOT_SECRET:
        return None
    return Part(offset + start, offset + end)


def userinfo_parts(text: str, offset: int = 0, *, http_user_is_secret: bool = True) -> list[Part]:
    """The secret of each URL's userinfo: the password, and for http(s) without one the user (`https://TOKEN@h`,
    api/redact.py's rule)."""
    parts = []
    for url in _USERINFO.finditer(text):
        if url.group("password"):
            password = url.group("password")
            decoded = unquote(password)
            parts.append(Part(offset + url.start("password"), offset + url.end("password"),
                              extra=(decoded,) if decoded != password else ()))
        elif http_user_is_secret and url.group("user") and url.group("scheme").lower().startswith("http"):
            parts.append(Part(offset + url.start("user"), offset + url.end("user")))
    return parts


# --- the files git, ssh and curl read ----------------------------------------------------------------------
def _lines(content: str) -> Iterator[tuple[int, str]]:
    """(offset, line without its end) of each line."""
    offset = 0
    for line in content.splitlines(keepends=True):
        yield offset, line.rstrip("\r\n")
        offset += len(line)


def _comment(line: str, offset: int, marks: str = "#") -> list[Part] | None:
    """The parts of a whole-line comment (the conservative patterns: config tools ignore it, a person may
    have pasted anything there); None when the line is not a comment."""
    stripped = line.lstrip()
    if stripped and stripped[0] in marks:
        return pattern_parts(line, offset)
    return None


_GIT_SECTION = re.compile(r'\s*\[\s*(?P<name>[A-Za-z0-9.-]+)(?:\s+"(?P<sub>(?:[^"\\\n]|\\.)*)")?\s*\]')
_GIT_KEY = re.compile(r"\s*(?P<key>[A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(?P<value>.*))?$")
_GIT_SECRET_KEY = re.compile(r"(?i)password|passwd|passphrase|token|secret|apikey|api-key|smtppass")


def gitconfig_parts(content: str) -> list[Part]:
    """A git configuration file: section names, keys and values count; secrets per the module docstring."""
    parts: list[Part] = []
    section = ""
    for offset, line in _lines(content):
        comment = _comment(line, offset, "#;")
        if comment is not None:
            parts += comment
            continue
        rest, at = line, 0
        header = _GIT_SECTION.match(line)
        if header:
            section = header.group("name").lower().split(".")[0]
            if header.group("sub") is not None:  # `[credential "https://team@host"]`: a user name, not a token
                parts += userinfo_parts(header.group("sub"), offset + header.start("sub"),
                                        http_user_is_secret=section != "credential")
            rest, at = line[header.end():], header.end()
        entry = _GIT_KEY.match(rest)
        if entry and entry.group("value") is not None:
            start, end = _git_value_span(rest, entry.start("value"))
            parts += _git_value_parts(section, entry.group("key").lower(), rest, start, end, offset + at)
        elif rest.strip() and not entry:
            parts += pattern_parts(rest, offset + at)  # not git syntax: git refuses it; hide what looks secret
    return parts


def _git_value_span(line: str, start: int) -> tuple[int, int]:
    """A value's span: up to an unquoted `#`/`;`, without surrounding blanks and one pair of quotes."""
    quoted, escaped, end = False, False, len(line)
    for i in range(start, len(line)):
        c = line[i]
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == '"':
            quoted = not quoted
        elif c in "#;" and not quoted:
            end = i
            break
    while end > start and line[end - 1].isspace():
        end -= 1
    if end - start >= 2 and line[start] == '"' and line[end - 1] == '"':
        start, end = start + 1, end - 1
    return start, end


def _git_value_parts(section: str, key: str, line: str, start: int, end: int, offset: int) -> list[Part]:
    value = line[start:end]
    if not value:
        return []
    if key == "extraheader":  # `Authorization: Bearer TOKEN`: the header's name counts, its value is secret
        colon = value.find(":")
        first = start + colon + 1 if colon >= 0 else start
        while first < end and line[first].isspace():
            first += 1
        words = line[first:end].split()
        return [Part(offset + first, offset + end, extra=(words[-1],) if len(words) > 1 else ())] if words else []
    if section == "credential" and key == "helper":  # its name counts; its arguments may carry a secret
        name_end = start + len(value.split()[0])
        while name_end < end and line[name_end].isspace():
            name_end += 1
        if name_end >= end:
            return []
        return [Part(offset + name_end, offset + end, secret=False),
                *pattern_parts(line[name_end:end], offset + name_end)]
    if _GIT_SECRET_KEY.search(key) and value.lower() not in NOT_SECRET:
        return [Part(offset + start, offset + end)]
    return userinfo_parts(value, offset + start)


def ssh_config_parts(content: str) -> list[Part]:
    """An ssh client configuration: every keyword and value counts, none is secret (only comments are looked
    at, with the conservative patterns)."""
    return [part for offset, line in _lines(content) for part in (_comment(line, offset) or [])]


_NETRC_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\S+')


def netrc_parts(content: str) -> list[Part]:
    """A `.netrc`: the value after `password` and `account` (any length); `machine`/`login` count. A `#`
    comment and a `macdef` body get the conservative patterns."""
    parts: list[Part] = []
    secret_next, in_macro = False, False
    for offset, line in _lines(content):
        if in_macro:
            in_macro = bool(line.strip())
            parts += pattern_parts(line, offset)
            continue
        for token in _NETRC_TOKEN.finditer(line):
            text = token.group()
            if text.startswith("#") and not secret_next:
                parts += pattern_parts(line[token.start():], offset + token.start())
                break
            if secret_next:
                quoted = len(text) >= 2 and text[0] == text[-1] == '"'
                parts.append(Part(offset + token.start() + quoted, offset + token.end() - quoted))
                secret_next = False
            elif text in ("password", "account"):
                secret_next = True
            elif text == "macdef":
                in_macro = True
    return parts


def git_credentials_parts(content: str) -> list[Part]:
    """`.git-credentials`: one URL a line; scheme, user, host and path count, the password is secret (a bare
    http(s) user is the token itself)."""
    parts: list[Part] = []
    for offset, line in _lines(content):
        comment = _comment(line, offset)
        if comment is not None:
            parts += comment
        elif _USERINFO.search(line):
            parts += userinfo_parts(line, offset)
        elif line.strip():
            parts += pattern_parts(line, offset)
    return parts


def _whole(secret: bool) -> Callable[[str], list[Part]]:
    def parts(content: str) -> list[Part]:
        return [Part(0, len(content), secret=secret, extra=_pem_forms(content) if secret else ())] if content else []
    return parts


def _pem_forms(content: str) -> tuple[str, ...]:
    return tuple(form for part in pattern_parts(content) for form in (content[part.start:part.end], *part.extra))


def _public(content: str) -> list[Part]:
    return []


def parser_for(path: str) -> Callable[[str], list[Part]]:
    """The parser of a mapped file by its path (relative to its location); the conservative patterns for any
    other file."""
    name = posixpath.basename(path)
    directory = posixpath.dirname(path)
    if path in (".gitconfig", ".config/git/config"):
        return gitconfig_parts
    if path in (".git-credentials", ".config/git/credentials"):
        return git_credentials_parts
    if path in (".netrc", "_netrc"):
        return netrc_parts
    if directory == ".ssh" or directory.startswith(".ssh/"):
        if path == ".ssh/config" or directory.startswith(".ssh/config.d"):
            return ssh_config_parts
        if name.startswith("known_hosts"):
            return _public
        if name.startswith("id_"):
            return _whole(secret=not name.endswith(".pub"))
    return pattern_parts


def file_parts(content: str, path: str) -> list[Part]:
    """Every part of `content` to mask in the digest (and, when secret, to hide), sorted."""
    return sorted(parser_for(path)(content), key=lambda p: (p.start, -p.end))


def structure_of(content: str, path: str = "") -> str:
    """`content` with each part replaced by `***` where it stands (overlapping parts once). Pure."""
    out, at = [], 0
    for part in file_parts(content, path):
        if part.end <= at:
            continue
        out += [content[at:max(at, part.start)], REDACTED]
        at = part.end
    return "".join([*out, content[at:]])


def secret_forms(content: str, path: str = "") -> list[str]:
    """The texts of the secret parts (and their other forms), in file order, without duplicates. Pure."""
    forms = [form for part in file_parts(content, path) if part.secret
             for form in (content[part.start:part.end], *part.extra)]
    return [form for form in dict.fromkeys(forms) if form]
