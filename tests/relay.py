#!/usr/bin/env python3
"""relay.py: an attacker on the path between mirrorctl and mirrord --listen.

    relay.py --target PORT --port-file FILE --log FILE MODE-OPTIONS

Listens on 127.0.0.1 (a free port, written to --port-file once it
listens), takes one connection, connects it to 127.0.0.1:--target and
passes bytes both ways. It knows the wire (docs/PROTOCOL.md): each way,
the first two frames are the plain handshake (u32 length, u8 type,
payload); after them come sealed records (u32 length, that many bytes).
On the client's way (where file data flows) it can, at the --nth record
of at least 60,000 bytes (a DATA record):

  --mode pass      change nothing
  --mode flip      flip one bit in the middle of that record
  --mode drop      leave that record out
  --mode inject    send a record of random bytes (with a good length) first
  --mode swap      send it after the record that follows it (reordered)
  --mode replay    send, after the live handshake, the records of the
                   session recorded in --replay FILE instead of the client's

--record FILE writes every byte the client sent (handshake included);
--capture FILE writes every byte that passed either way. What it did goes
to --log. It ends when both sides have closed, or after --timeout seconds.
"""
import argparse
import os
import socket
import struct
import sys
import threading

BIG = 60000


def read_exact(sock, n):
    """n bytes, or fewer at the end of the stream."""
    out = b""
    while len(out) < n:
        try:
            chunk = sock.recv(n - len(out))
        except OSError:
            chunk = b""
        if not chunk:
            break
        out += chunk
    return out


def frames(data, count):
    """Splits off the first count frames of data: (their bytes, the rest)."""
    off = 0
    for _ in range(count):
        (n,) = struct.unpack(">I", data[off:off + 4])
        off += 4 + n
    return data[:off], data[off:]


class Relay:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.log = open(args.log, "a", buffering=1)
        self.capture = open(args.capture, "wb") if args.capture else None
        self.record = open(args.record, "wb") if args.record else None

    def say(self, text):
        self.log.write(text + "\n")

    def out(self, sock, data, client_side):
        if client_side and self.record:
            self.record.write(data)
        if self.capture:
            with self.lock:
                self.capture.write(data)
        try:
            sock.sendall(data)
            return True
        except OSError:
            return False

    def server_to_client(self, srv, cli):
        while True:
            try:
                data = srv.recv(65536)
            except OSError:
                data = b""
            if not data or not self.out(cli, data, False):
                break
        try:
            cli.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def tamper(self, hdr, body, srv):
        """Forwards one record of the client, changed as the mode says."""
        a = self.args
        if a.mode == "flip":
            body = bytearray(body)
            body[len(body) // 2] ^= 0x01
            self.say("flipped a bit of byte %d of record %d (%d bytes)"
                     % (len(body) // 2, self.nrec, len(body)))
            return self.out(srv, hdr + bytes(body), True)
        if a.mode == "drop":
            self.say("dropped record %d (%d bytes)" % (self.nrec, len(body)))
            return True
        if a.mode == "swap":
            self.held = hdr + body
            self.say("held back record %d (%d bytes) to send it after the next"
                     % (self.nrec, len(body)))
            return True
        if a.mode == "inject":
            self.say("injected a record of %d random bytes before record %d"
                     % (len(body), self.nrec))
            return (self.out(srv, hdr + os.urandom(len(body)), True)
                    and self.out(srv, hdr + body, True))
        return self.out(srv, hdr + body, True)

    def client_to_server(self, cli, srv):
        a = self.args
        ok = True
        # The plain handshake: NET_OPEN, then NET_PROOF.
        for _ in range(2):
            hdr = read_exact(cli, 4)
            body = read_exact(cli, struct.unpack(">I", hdr)[0]) if len(hdr) == 4 else b""
            if not self.out(srv, hdr + body, True) or len(hdr) < 4:
                ok = False
                break
        if ok and a.mode == "replay":
            _, records = frames(open(a.replay, "rb").read(), 2)
            self.say("sent %d bytes of a recorded session's records" % len(records))
            ok = self.out(srv, records, False)
        self.nrec = 0
        self.held = None
        big = 0
        while ok:
            hdr = read_exact(cli, 4)
            if len(hdr) < 4:
                break
            (n,) = struct.unpack(">I", hdr)
            body = read_exact(cli, n)
            if a.mode == "replay":
                self.nrec += 1
                continue	# the client's own records go nowhere
            if n >= BIG:
                big += 1
            if n >= BIG and big == a.nth and a.mode != "pass":
                ok = self.tamper(hdr, body, srv)
            else:
                ok = self.out(srv, hdr + body, True)
                if ok and self.held is not None:
                    ok = self.out(srv, self.held, True)
                    self.held = None
            self.nrec += 1
            if len(body) < n:
                break
        try:
            srv.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def run(self, cli):
        srv = socket.create_connection(("127.0.0.1", self.args.target))
        back = threading.Thread(target=self.server_to_client, args=(srv, cli),
                                daemon=True)
        back.start()
        self.client_to_server(cli, srv)
        back.join()
        cli.close()
        srv.close()
        self.say("done")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--target", type=int, required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--mode", default="pass",
                   choices=["pass", "flip", "drop", "inject", "swap", "replay"])
    p.add_argument("--nth", type=int, default=3)
    p.add_argument("--record")
    p.add_argument("--replay")
    p.add_argument("--capture")
    p.add_argument("--timeout", type=float, default=60)
    args = p.parse_args()
    threading.Timer(args.timeout, lambda: os._exit(2)).start()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.rename(tmp, args.port_file)
    cli, _ = ls.accept()
    ls.close()
    r = Relay(args)
    r.run(cli)
    for f in (r.capture, r.record):
        if f:
            f.close()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
