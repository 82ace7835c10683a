"""What the console's Python tests share: TAP-like checks, a free loopback port, starting it.

    sys.path.insert(0, DIR_OF_THIS_FILE); import testlib; testlib.check(cond, name, detail)
testlib.failed counts the checks that failed.
"""
import shutil
import socket
import subprocess
import sys
import time

failed = 0


def check(cond, name, detail=""):
    global failed
    print(("ok - " if cond else "not ok - ") + name)
    if not cond:
        failed += 1
        print("#   " + str(detail)[:600])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_console(binary, conf, port, log_path):
    """ingress-console -c conf, its output in log_path, once it listens on port."""
    log = open(log_path, "w")
    proc = subprocess.Popen([binary, "-c", conf], stdout=log, stderr=log)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    raise SystemExit(f"ingress-console did not listen on {port}: {open(log_path).read()}")


def run(main, directory):
    """Runs main, then removes directory when every check passed (else keeps it and says where);
    exits 1 when a check failed."""
    try:
        main()
    finally:
        if failed == 0:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            print("# test directory kept: " + directory)
    sys.exit(1 if failed else 0)
