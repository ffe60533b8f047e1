"""File objects over a file of a version: `dvx.open` returns an `io.BufferedReader` (or an
`io.TextIOWrapper` over one) whose raw stream reads the file's chunks at any offset, from the
local store, or from the remote when the store lacks them."""

from __future__ import annotations

import io
import os

# Small enough that a large read (a multiple of it) goes straight to the raw stream with no
# read-ahead thrown away by the next seek; large enough for line-by-line text.
BUFFER_SIZE = 64 << 10


class RawFile(io.RawIOBase):
    """The raw stream: positioned reads of one file of one version (no buffering here)."""

    def __init__(self, native, repo_state, path, commit):
        super().__init__()
        self._native = native
        self._pos = 0
        # What a pickled copy reopens: the repository, the path, the pinned commit.
        self._state = (repo_state, path, commit)
        self.name = path

    # The native file works without the GIL; several threads may share it.
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    @property
    def size(self) -> int:
        return self._native.size

    @property
    def digest(self) -> str:
        return self._native.digest

    def tell(self) -> int:
        self._check()
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._check()
        if whence == os.SEEK_SET:
            pos = offset
        elif whence == os.SEEK_CUR:
            pos = self._pos + offset
        elif whence == os.SEEK_END:
            pos = self._native.size + offset
        else:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def readinto(self, buffer) -> int:
        self._check()
        view = memoryview(buffer).cast("B")
        data = self._native.read_at(self._pos, len(view))
        n = len(data)
        view[:n] = data
        self._pos += n
        return n

    def readall(self) -> bytes:
        self._check()
        data = self._native.read_at(self._pos, max(0, self._native.size - self._pos))
        self._pos += len(data)
        return data

    def read(self, size: int = -1) -> bytes:
        self._check()
        if size is None or size < 0:
            return self.readall()
        data = self._native.read_at(self._pos, size)
        self._pos += len(data)
        return data

    def _check(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file.")

    def __reduce__(self):
        return (_reopen_raw, (self._state, self._pos))


class File(io.BufferedReader):
    """A seekable, read-only binary file of a version (`dvx.open(..., mode="rb")`)."""

    def read(self, size=-1):
        # A large read goes to Rust once and returns its bytes as they are: no copy through
        # the buffer (the raw stream's readinto must copy, abi3 has no writable buffers).
        if size is None or size < BUFFER_SIZE:
            return super().read(size)
        pos = self.tell()
        data = self.raw._native.read_at(pos, size)
        super().seek(pos + len(data))
        return data

    @property
    def size(self) -> int:
        return self.raw.size

    @property
    def digest(self) -> str:
        """BLAKE3 hex of the whole file, as `dvx ls --json` and `b3sum` print it."""
        return self.raw.digest

    def __reduce__(self):
        if self.closed:
            raise ValueError("cannot pickle a closed file")
        return (_reopen_binary, (self.raw._state, self.tell()))


class TextFile(io.TextIOWrapper):
    """A read-only text file of a version (`dvx.open(..., mode="r")`)."""

    def __reduce__(self):
        if self.closed:
            raise ValueError("cannot pickle a closed file")
        if self.buffer.tell() != 0:
            # A text stream's position is an opaque cookie: only an unread file reopens.
            raise TypeError("a text file of dvx pickles only before the first read")
        return (
            _reopen_text,
            (self.buffer.raw._state, self.encoding, self.errors, self._newline),
        )


def make(native, repo_state, path, commit, mode="rb", encoding=None, errors=None, newline=None):
    """The file object `dvx.open` returns."""
    if mode not in ("r", "rb", "rt", "br", "tr"):
        raise ValueError(f"dvx.open is read-only: mode {mode!r} (use 'rb' or 'r')")
    raw = RawFile(native, repo_state, path, commit)
    f = File(raw, buffer_size=BUFFER_SIZE)
    if "b" in mode:
        if encoding is not None:
            raise ValueError("binary mode doesn't take an encoding argument")
        return f
    t = TextFile(f, encoding=encoding or "utf-8", errors=errors, newline=newline)
    t._newline = newline
    return t


def _native_file(state):
    from dvx._repo import Repo

    repo_state, path, commit = state
    repo = Repo._from_state(repo_state)
    return repo._native_file(path, commit)


def _reopen_raw(state, pos):
    raw = RawFile(_native_file(state), *state)
    raw.seek(pos)
    return raw


def _reopen_binary(state, pos):
    f = File(RawFile(_native_file(state), *state), buffer_size=BUFFER_SIZE)
    f.seek(pos)
    return f


def _reopen_text(state, encoding, errors, newline):
    f = File(RawFile(_native_file(state), *state), buffer_size=BUFFER_SIZE)
    t = TextFile(f, encoding=encoding, errors=errors, newline=newline)
    t._newline = newline
    return t
