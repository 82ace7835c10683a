#!/usr/bin/python3
"""SIGTERM with a milter transaction in flight and an idle connection open, from the MTA's side.

    stop-inflight.py SOCKET_PATH MILTER_PID BOUND_SECONDS

Speaks the milter protocol (version 6, every step answered) on two connections to the running
milter-ingress: A sends a message up to its RCPT and stops there, B says HELO and stays idle
between transactions.  Then it sends SIGTERM and checks, printing "ok - ..." / "not ok - ...":
  - the listening socket refuses new connections within BOUND_SECONDS;
  - the milter still runs 1.5 s later: it waits for A's transaction;
  - B's next MAIL FROM is refused with 421 4.3.2 (no new transaction during the stop);
  - A's message finishes: end of message is answered with Authentication-Results added and a
    final continue or accept;
  - once A has closed, the milter exits within BOUND_SECONDS although B is still open.
Prints "exit_ms=N" (after A closed).  Exits 1 when a check failed.  A's queue id is 4STOPA1, B's
4STOPB1.
"""
import os
import signal
import socket
import struct
import sys
import time

VERSION, ACTIONS, PROTOCOL = 6, 0x1FF, 0  # all actions offered, no step without a reply


class Milter:
    """The MTA's side of one milter connection."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.mods = []

    def send(self, cmd, data=b""):
        self.sock.sendall(struct.pack(">I", len(data) + 1) + cmd + data)

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("connection closed by the milter")
            buf += chunk
        return buf

    def read_packet(self):
        (length,) = struct.unpack(">I", self.recv_exact(4))
        body = self.recv_exact(length)
        return body[:1], body[1:]

    def step(self, cmd, data=b""):
        """Sends one command; returns its final reply (letter, data), keeping modifications."""
        self.send(cmd, data)
        while True:
            letter, body = self.read_packet()
            if letter in b"hijmebq+-2":  # header and recipient changes, quarantine, progress
                self.mods.append((letter, body))
                continue
            return letter, body

    def negotiate(self):
        self.send(b"O", struct.pack(">III", VERSION, ACTIONS, PROTOCOL))
        letter, _ = self.read_packet()
        assert letter == b"O", letter

    def hello(self, queue_id):
        self.send(b"D", b"Cj\0mx.stop.example\0")
        addr = b"127.0.0.2"
        r = self.step(b"C", b"good.example.test\0" + b"4" + struct.pack(">H", 25) + addr + b"\0")
        assert r[0] == b"c", r
        r = self.step(b"H", b"good.example.test\0")
        assert r[0] == b"c", r
        self.queue_id = queue_id

    def mail(self, sender):
        self.send(b"D", b"Mi\0" + self.queue_id + b"\0")
        return self.step(b"M", sender + b"\0")

    def close(self):
        try:
            self.send(b"Q")
        except OSError:
            pass
        self.sock.close()


failed = 0


def check(ok, name, detail=""):
    global failed
    print(("ok - " if ok else "not ok - ") + name)
    if not ok:
        failed += 1
        if detail:
            print("#   " + str(detail))


def running(pid):
    """True while pid runs; an exited child its parent has not reaped yet is a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def refuses(path):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        return False
    except OSError:
        return True
    finally:
        s.close()


def main():
    path, pid, bound = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    a, b = Milter(path), Milter(path)
    for conn in (a, b):
        conn.negotiate()
    a.hello(b"4STOPA1")
    b.hello(b"4STOPB1")
    r = a.mail(b"<probe@e2e.test>")
    assert r[0] == b"c", r
    r = a.step(b"R", b"<postmaster@example.test>\0")
    assert r[0] == b"c", r

    os.kill(pid, signal.SIGTERM)
    start = time.monotonic()
    while not refuses(path) and time.monotonic() - start < bound:
        time.sleep(0.02)
    took = time.monotonic() - start
    check(refuses(path), f"new connections are refused {took * 1000:.0f} ms after SIGTERM")

    time.sleep(max(0.0, 1.5 - (time.monotonic() - start)))
    check(running(pid), "1.5 s after SIGTERM the milter still runs: it waits for the transaction")

    try:
        letter, body = b.mail(b"<late@e2e.test>")
    except (EOFError, OSError) as e:
        letter, body = b"", repr(e).encode()
    check(letter == b"y" and body.startswith(b"421 4.3.2"),
          "a MAIL FROM on an idle connection during the stop gets 421 4.3.2", (letter, body))

    try:
        a.step(b"L", b"From\0<probe@e2e.test>\0")
        a.step(b"L", b"Subject\0in flight at SIGTERM\0")
        a.step(b"N")
        a.step(b"B", b"sent before, finished after SIGTERM\r\n")
        letter, body = a.step(b"E")
    except (EOFError, OSError) as e:
        letter, body = b"", repr(e).encode()
    added = [m for m in a.mods if m[0] in b"hi" and b"Authentication-Results" in m[1]]
    check(letter in (b"c", b"a") and len(added) == 1,
          "the transaction in flight finishes: end of message answered, Authentication-Results "
          "added", (letter, body, a.mods))
    a.close()
    closed = time.monotonic()

    while running(pid) and time.monotonic() - closed < bound + 30:
        time.sleep(0.01)
    exit_ms = (time.monotonic() - closed) * 1000
    print(f"# exit_ms={exit_ms:.0f}")
    check(not running(pid) and exit_ms <= bound * 1000,
          f"the milter exits {exit_ms:.0f} ms after the last transaction ended (bound {bound} s), "
          "an idle connection still open")
    b.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
