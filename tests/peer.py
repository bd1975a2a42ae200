#!/usr/bin/env python3
"""peer.py: a mirrorfs protocol peer that misbehaves on purpose, for the tests.

It speaks the frames of docs/PROTOCOL.md over a Unix socket: the message
numbers and constants are read from lib/proto.h, so it follows the code.

  peer.py receiver SOCKET MODE   serve SOCKET as a store's master would
                                 (.mirrorfs/control.sock) and answer one
                                 session badly; MODE:
      need-descending  requests entries 2 then 1
      need-duplicate   requests entry 1 twice
      need-beyond      requests entry 1000000 of a small manifest
      need-flood       15 s of NEED frames for entry 1, then END_NEED
      mark-above       a MARK one above the entries sent (N+1 of N)
      mark-down        MARK 2, then MARK 1
      mark-after-free  MARK_NO_HOLD, then MARK 1
      mark-repeat      MARK 1, then MARK 1 again
      need-below-mark  MARK 2, then a request for entry 1
  peer.py report-data SOCKET PATH MIB
                                 connect to SOCKET (a mount's control.sock),
                                 run a dry-run session of one file PATH and
                                 send MIB MiB of FILE data anyway
  peer.py manifest SOCKET PATH...
                                 connect to SOCKET (a mount's control.sock),
                                 run a dry-run session whose manifest is the
                                 PATHs in that order (a trailing / makes a
                                 directory) and print "refused: ERROR" or
                                 "accepted" (the requests came)
  peer.py early SOCKET ok|bad    connect to SOCKET (a mount's control.sock),
                                 send a directory and a file of a manifest
                                 that never ends and wait for the request of
                                 the file; with bad, then send data for the
                                 directory and print "refused: ERROR"
  peer.py idle SOCKET SECONDS    connect and say nothing for SECONDS
  peer.py fds SOCKET MODE FILE...
                                 connect to SOCKET (a mount's control.sock),
                                 run a session of the FILEs (named by their
                                 base names) whose data goes as descriptors
                                 (FILE_FD); MODE:
      twice  the first file's descriptor twice: print "refused: ERROR"
      abort  the first file's descriptor, then a FILE_ABORT for it: the same
      data   the first file's descriptor, then its data as FILE: the same
      cut    every file's descriptor, then hang up at once

Exit status: 0 when the other side did what the test expects of it (noted
on stdout), 1 otherwise.
"""
import os
import re
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def proto_constants():
    """Message numbers and constants from lib/proto.h."""
    text = open(os.path.join(HERE, "..", "lib", "proto.h")).read()
    body = text[text.index("enum msg_type {"):]
    body = body[:body.index("};")]
    msgs, n = {}, 0
    for line in body.splitlines()[1:]:
        m = re.match(r"\s*(MSG_\w+)(\s*=\s*(\w+))?,", line)
        if not m:
            continue
        if m.group(3):
            if m.group(3).isdigit():
                n = int(m.group(3))
            else:
                continue    # MSG_TYPE_MAX = MSG_...
        msgs[m.group(1)] = n
        n += 1
    version = int(re.search(r"#define PROTO_VERSION (\d+)", text).group(1))
    return msgs, version


MSG, VERSION = proto_constants()
MAGIC = 0x4d524653   # "MRFS"
SESSION_REPORT = 0x08
SESSION_FDPASS = 0x100
CTL_SESSION = 1


def send(sock, mtype, payload=b""):
    sock.sendall(struct.pack(">IB", len(payload) + 1, mtype) + payload)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def recv(sock):
    """(type, payload), or (None, b"") at the end of the stream."""
    head = recv_exact(sock, 5)
    if head is None:
        return None, b""
    length, mtype = struct.unpack(">IB", head)
    payload = recv_exact(sock, length - 1) if length > 1 else b""
    return mtype, payload or b""


def string(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def attrs(mode, size, mtime=1600000000):
    return struct.pack(">IIIQqI", mode, os.getuid(), os.getgid(), size,
                       mtime, 0)


def hello(sock):
    send(sock, MSG["MSG_HELLO"], struct.pack(">IH", MAGIC, VERSION))


def error_text(payload):
    (n,) = struct.unpack(">H", payload[:2])
    return payload[2:2 + n].decode(errors="replace")


def fake_master(path, mode):
    """Answer one session on path with the requests mode names."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    print("listening", flush=True)
    conn, _ = srv.accept()
    conn.settimeout(60)
    t, p = recv(conn)
    assert t == MSG["MSG_CTL"], t
    t, p = recv(conn)
    assert t == MSG["MSG_HELLO"], t
    hello(conn)
    n = 0
    while True:
        t, p = recv(conn)
        if t == MSG["MSG_ENTRY"]:
            n += 1
        elif t == MSG["MSG_END_MANIFEST"]:
            break
        elif t is None:
            print("sender closed during the manifest")
            return 1
    need = MSG["MSG_NEED"]
    try:
        if mode == "need-descending":
            send(conn, need, struct.pack(">II", 1, 2))
            send(conn, need, struct.pack(">II", 1, 1))
        elif mode == "need-duplicate":
            send(conn, need, struct.pack(">III", 2, 1, 1))
        elif mode == "need-beyond":
            send(conn, need, struct.pack(">II", 1, 1000000))
        elif mode == "mark-above":
            send(conn, MSG["MSG_MARK"], struct.pack(">I", n + 1))
        elif mode == "mark-down":
            send(conn, MSG["MSG_MARK"], struct.pack(">I", 2))
            send(conn, MSG["MSG_MARK"], struct.pack(">I", 1))
        elif mode == "mark-repeat":
            send(conn, MSG["MSG_MARK"], struct.pack(">I", 1))
            send(conn, MSG["MSG_MARK"], struct.pack(">I", 1))
        elif mode == "need-below-mark":
            send(conn, MSG["MSG_MARK"], struct.pack(">I", 2))
            send(conn, need, struct.pack(">II", 1, 1))
        elif mode == "mark-after-free":
            send(conn, MSG["MSG_MARK"], struct.pack(">I", 0xffffffff))
            send(conn, MSG["MSG_MARK"], struct.pack(">I", 1))
        elif mode == "need-flood":
            frame = struct.pack(">I", 32768) + struct.pack(">I", 1) * 32768
            end = time.time() + 15
            while time.time() < end:
                send(conn, need, frame)
        send(conn, MSG["MSG_END_NEED"])
    except (BrokenPipeError, ConnectionResetError):
        print("the sender hung up on the requests (%d entries)" % n)
        return 0
    t, p = recv(conn)
    if t in (None, MSG["MSG_ERROR"]):
        print("the sender hung up on the requests (%d entries)" % n)
        return 0
    print("the sender went on: got type %d" % t)
    return 1


def session(path, flags):
    """A socket to path (a mount's control.sock) with a session begun."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(60)
    send(s, MSG["MSG_CTL"], struct.pack(">BI", CTL_SESSION, 60))
    hello(s)
    t, p = recv(s)
    assert t == MSG["MSG_HELLO"], (t, p)
    # flags, window (0: this sender never waits for a MARK), no rules
    send(s, MSG["MSG_SESSION"], struct.pack(">III", flags, 0, 0))
    return s


def dry_run(path):
    """A socket to path (a mount's control.sock) with a dry-run session begun."""
    return session(path, SESSION_REPORT)


def file_entry(name, size):
    """An ENTRY frame's payload: a file, no hash, no extended attributes."""
    return (struct.pack(">B", 1) + string(name) + attrs(0o644, size) +
            b"\0" + struct.pack(">I", 0))


def early(path, bad):
    """
    A session whose manifest never ends: the receiver asks for its file
    while the manifest still comes. With bad, then sends data for an entry
    it did not ask for (the directory, index 0): refused or not.
    """
    s = session(path, 0)
    send(s, MSG["MSG_ENTRY"], struct.pack(">B", 2) + string("d") +
         attrs(0o755, 0) + b"\0" + struct.pack(">I", 0))
    send(s, MSG["MSG_ENTRY"], file_entry("d/x", 10))
    s.settimeout(10)
    try:
        t, p = recv(s)
    except socket.timeout:
        print("no request during the manifest")
        return 1
    if t != MSG["MSG_NEED"] or p[-4:] != struct.pack(">I", 1):
        print("got type %r %r during the manifest" % (t, p))
        return 1
    print("asked for entry 1 during the manifest")
    if not bad:
        return 0
    s.settimeout(60)
    try:
        send(s, MSG["MSG_FILE"], struct.pack(">I", 0) + attrs(0o644, 10))
        send(s, MSG["MSG_DATA"], b"x" * 10)
    except (BrokenPipeError, ConnectionResetError):
        pass
    t, p = recv(s)
    if t == MSG["MSG_ERROR"]:
        print("refused: %s" % error_text(p))
        return 0
    print("got type %r" % t)
    return 1


def refusal(s, hung_up):
    """
    Reads to the receiver's ERROR (printed as "refused: ERROR"): 0. A
    RESULT means it took what it should have refused: 1. A hang-up
    without a word: hung_up.
    """
    while True:
        t, p = recv(s)
        if t is None:
            print("the receiver hung up")
            return hung_up
        if t == MSG["MSG_ERROR"]:
            print("refused: %s" % error_text(p))
            return 0
        if t == MSG["MSG_RESULT"]:
            print("the receiver took the data and reported")
            return 1


def report_data(path, name, mib):
    """A dry run that sends data nobody asked for."""
    s = dry_run(path)
    size = mib << 20
    # has_hash 0, then no extended attributes (u32 length 0)
    send(s, MSG["MSG_ENTRY"], struct.pack(">B", 1) + string(name) +
         attrs(0o644, size) + b"\0" + struct.pack(">I", 0))
    send(s, MSG["MSG_END_MANIFEST"], struct.pack(">Q", 1) +
         attrs(0o755, 0) + b"\0" + struct.pack(">I", 0))
    t, p = recv(s)
    if t != MSG["MSG_END_NEED"]:
        print("expected END_NEED, got %r" % t)
        return 1
    chunk = b"x" * (1 << 20)
    try:
        send(s, MSG["MSG_FILE"], struct.pack(">I", 0) + attrs(0o644, size))
        for _ in range(mib):
            send(s, MSG["MSG_DATA"], chunk)
        send(s, MSG["MSG_FILE_END"], b"\0" * 16)
        send(s, MSG["MSG_DONE"])
    except (BrokenPipeError, ConnectionResetError):
        pass
    return refusal(s, hung_up=0)


def manifest(path, names):
    """A dry run of the manifest names, in their order: refused or not."""
    s = dry_run(path)
    try:
        for name in names:
            is_dir = name.endswith("/")
            # type (1 file, 2 directory), path, attributes, has_hash 0,
            # then no extended attributes (u32 length 0)
            send(s, MSG["MSG_ENTRY"], struct.pack(">B", 2 if is_dir else 1) +
                 string(name.rstrip("/")) +
                 attrs(0o755 if is_dir else 0o644, 0) + b"\0" +
                 struct.pack(">I", 0))
        send(s, MSG["MSG_END_MANIFEST"], struct.pack(">Q", len(names)) +
             attrs(0o755, 0) + b"\0" + struct.pack(">I", 0))
    except (BrokenPipeError, ConnectionResetError):
        pass
    t, p = recv(s)
    if t == MSG["MSG_ERROR"]:
        print("refused: %s" % error_text(p))
    elif t == MSG["MSG_END_NEED"]:
        print("accepted")
    else:
        print("got type %r" % t)
    return 0


def send_fd(sock, mtype, payload, fd):
    """A frame with fd passed beside it (SCM_RIGHTS), as FILE_FD goes."""
    frame = struct.pack(">IB", len(payload) + 1, mtype) + payload
    socket.send_fds(sock, [frame], [fd])


def fds(path, mode, files):
    """A session whose files go as descriptors: twice, or cut (see above)."""
    s = session(path, SESSION_FDPASS)
    sizes = [os.stat(f).st_size for f in files]
    for f, size in zip(files, sizes):
        send(s, MSG["MSG_ENTRY"], file_entry(os.path.basename(f), size))
    send(s, MSG["MSG_END_MANIFEST"], struct.pack(">Q", len(files)) +
         attrs(0o755, 0) + b"\0" + struct.pack(">I", 0))
    asked = set()
    while True:
        t, p = recv(s)
        if t == MSG["MSG_NEED"]:
            (n,) = struct.unpack(">I", p[:4])
            asked.update(struct.unpack(">%dI" % n, p[4:4 + 4 * n]))
            continue
        if t == MSG["MSG_END_NEED"]:
            break
        print("got type %r before END_NEED" % t)
        return 1
    if asked != set(range(len(files))):
        print("asked for %s" % sorted(asked))
        return 1
    sends = [0, 0] if mode == "twice" else [0] if mode in ("abort", "data") \
        else range(len(files))
    try:
        for i in sends:
            with open(files[i], "rb") as f:
                send_fd(s, MSG["MSG_FILE_FD"], struct.pack(">I", i) +
                        attrs(0o644, sizes[i]), f.fileno())
        if mode == "abort":     # entry 0, ABORT_RETRY (0), a reason
            send(s, MSG["MSG_FILE_ABORT"], struct.pack(">IB", 0, 0) +
                 string("try again"))
        elif mode == "data":
            send(s, MSG["MSG_FILE"], struct.pack(">I", 0) +
                 attrs(0o644, sizes[0]))
    except (BrokenPipeError, ConnectionResetError):
        pass
    if mode == "cut":
        s.close()
        print("sent %d descriptors and hung up" % len(files))
        return 0
    return refusal(s, hung_up=1)


def idle(path, seconds):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    print("connected", flush=True)
    end = time.time() + float(seconds)
    s.settimeout(0.2)
    while time.time() < end:
        try:
            if s.recv(1) == b"":
                print("closed by the other side")
                return 0
        except socket.timeout:
            pass
        except OSError:
            print("closed by the other side")
            return 0
    return 1


def main(argv):
    if len(argv) >= 3 and argv[0] == "receiver":
        return fake_master(argv[1], argv[2])
    if len(argv) >= 4 and argv[0] == "report-data":
        return report_data(argv[1], argv[2], int(argv[3]))
    if len(argv) >= 3 and argv[0] == "manifest":
        return manifest(argv[1], argv[2:])
    if len(argv) == 3 and argv[0] == "early" and argv[2] in ("ok", "bad"):
        return early(argv[1], argv[2] == "bad")
    if len(argv) >= 4 and argv[0] == "fds" and \
            argv[2] in ("twice", "abort", "data", "cut"):
        return fds(argv[1], argv[2], argv[3:])
    if len(argv) >= 3 and argv[0] == "idle":
        return idle(argv[1], argv[2])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
