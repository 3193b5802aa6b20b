"""Turn one key on in Krita's ``kritarc`` and off again, leaving every other byte of the file as it was.

configparser would rewrite the whole file (case, spacing, comments, order), so this edits lines of bytes.
``enable`` returns the new bytes plus a small JSON-able record of what it did; ``undo`` uses that record to
put the file back: exactly the original bytes when nothing else touched the file in between, otherwise just
our line (and a [group] we added, if it is left empty) is taken out.
"""

from __future__ import annotations


def _newline(data: bytes) -> bytes:
    return b"\r\n" if b"\r\n" in data else b"\n"


def _section(lines: list[bytes], section: str) -> tuple[int, int] | None:
    """(header index, index after the group's last line) of ``[section]``, or None."""
    header = f"[{section}]".encode()
    for i, line in enumerate(lines):
        if line.strip() == header:
            end = i + 1
            while end < len(lines) and not lines[end].lstrip().startswith(b"["):
                end += 1
            return i, end
    return None


def _key_index(lines: list[bytes], start: int, end: int, key: str) -> int | None:
    for i in range(start + 1, end):
        name, sep, _ = lines[i].partition(b"=")
        if sep and name.strip() == key.encode():
            return i
    return None


def _value(line: bytes) -> bytes:
    return line.partition(b"=")[2].strip()


def read_value(data: bytes | None, section: str, key: str) -> str | None:
    """The value of ``key`` in ``[section]``, or None when it is not set."""
    lines = (data or b"").splitlines(keepends=True)
    found = _section(lines, section)
    if found is None:
        return None
    index = _key_index(lines, *found, key)
    return None if index is None else _value(lines[index]).decode("utf-8", "replace")


def enable(data: bytes | None, section: str, key: str, value: str = "true") -> tuple[bytes, dict | None]:
    """Set ``key=value`` in ``[section]`` of a kritarc whose bytes are ``data`` (None: the file does not exist).

    Returns (new bytes, record); record is None when the key already had that value (nothing to undo).
    """
    entry = f"{key}={value}".encode()
    if data is None:
        nl = b"\n"
        content = f"[{section}]".encode() + nl + entry + nl
        return content, {"how": "created", "text": content.decode()}
    nl = _newline(data)
    lines = data.splitlines(keepends=True)
    found = _section(lines, section)
    if found is None:
        suffix = b""
        if data and not data.endswith((b"\n", b"\r")):
            suffix += nl
        if data.strip():
            suffix += nl  # KConfig keeps a blank line between groups
        suffix += f"[{section}]".encode() + nl + entry + nl
        return data + suffix, {"how": "appended", "text": suffix.decode()}
    start, end = found
    index = _key_index(lines, start, end, key)
    if index is not None:
        if _value(lines[index]) == value.encode():
            return data, None
        old = lines[index]
        ending = old[len(old.rstrip(b"\r\n")):]
        lines[index] = entry + ending
        return b"".join(lines), {"how": "replaced", "old_line": old.decode("latin-1")}
    # Insert after the group's last non-blank line, so the blank line before the next group stays put.
    last = start
    for i in range(start + 1, end):
        if lines[i].strip():
            last = i
    record = {"how": "inserted", "newline_added_before": False}
    if not lines[last].endswith((b"\n", b"\r")):
        lines[last] += nl
        record["newline_added_before"] = True
    lines.insert(last + 1, entry + nl)
    return b"".join(lines), record


def _remove_key_line(data: bytes, section: str, key: str, drop_empty_section: bool) -> bytes:
    lines = data.splitlines(keepends=True)
    found = _section(lines, section)
    if found is None:
        return data
    start, end = found
    index = _key_index(lines, start, end, key)
    if index is None:
        return data
    del lines[index]
    end -= 1
    if drop_empty_section and not any(line.strip() for line in lines[start + 1:end]):
        del lines[start:end]
        if start > 0 and not lines[start - 1].strip():
            del lines[start - 1]  # the blank line that separated the group from the one before
    return b"".join(lines)


def undo(data: bytes | None, section: str, key: str, record: dict) -> bytes | None:
    """Reverse ``enable`` on the file's current bytes. Returns the new bytes, or None to delete the file."""
    if data is None:
        return None
    how = record["how"]
    if how == "created":
        if data == record["text"].encode():
            return None
        rest = _remove_key_line(data, section, key, drop_empty_section=True)
        return rest if rest.strip() else None
    if how == "appended":
        suffix = record["text"].encode()
        if data.endswith(suffix):
            return data[: -len(suffix)]
        return _remove_key_line(data, section, key, drop_empty_section=True)
    if how == "replaced":
        lines = data.splitlines(keepends=True)
        found = _section(lines, section)
        index = _key_index(lines, *found, key) if found else None
        if index is None:
            return data
        old = record["old_line"].encode("latin-1")
        current = lines[index]
        if not old.endswith((b"\n", b"\r")):  # it was the file's last line, without a newline
            old += current[len(current.rstrip(b"\r\n")):] if index < len(lines) - 1 else b""
        lines[index] = old
        return b"".join(lines)
    if how == "inserted":
        result = _remove_key_line(data, section, key, drop_empty_section=False)
        if record.get("newline_added_before") and result.endswith((b"\n", b"\r")) and result != data:
            lines = result.splitlines(keepends=True)
            found = _section(lines, section)
            if found and found[1] == len(lines):  # our line had been the file's last line
                lines[-1] = lines[-1].rstrip(b"\r\n")
                result = b"".join(lines)
        return result
    raise ValueError(f"unknown kritarc change {how!r}")
