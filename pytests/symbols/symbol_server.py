"""A symbol server for tests: python's http.server on a free loopback port, in a
thread, serving a folder in the symbol store layout and counting each request."""
import collections
import http.server
import re
import struct
import subprocess
import threading
from pathlib import Path


def pdb_key(pdb):
    """The store directory name (GUID then age, hex) as llvm-pdbutil-14 reports them:
    independent of openkd's reader."""
    out = subprocess.run(["llvm-pdbutil-14", "dump", "-summary", str(pdb)], capture_output=True, text=True,
                         check=True).stdout
    guid = re.search(r"GUID: \{([0-9A-F-]+)\}", out).group(1).replace("-", "")
    age = int(re.search(r"Age: (\d+)", out).group(1))
    return guid, age, f"{guid}{age:X}"


def guid_text(pdb):
    out = subprocess.run(["llvm-pdbutil-14", "dump", "-summary", str(pdb)], capture_output=True, text=True,
                         check=True).stdout
    return re.search(r"GUID: (\{[0-9A-F-]+\})", out).group(1)


def store(root, name, key, data):
    """Puts `data` at root/name/key/name (or name.pd_ when name ends with '_')."""
    stem = name[:-1] + "b" if name.endswith("_") else name
    path = Path(root) / stem / key / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def cab(name, data):
    """A one-file cabinet, stored without compression (MS-CAB: CFHEADER, CFFOLDER,
    CFFILE, CFDATA blocks of at most 32 KiB); checksums 0 mean "not computed"."""
    blocks = [data[i:i + 32768] for i in range(0, len(data), 32768)] or [b""]
    file_entry = struct.pack("<IIHHHH", len(data), 0, 0, 0x5821, 0, 0x20) + name.encode() + b"\0"
    header_size, folder_size = 36, 8
    data_start = header_size + folder_size + len(file_entry)
    body = b"".join(struct.pack("<IHH", 0, len(b), len(b)) + b for b in blocks)
    total = data_start + len(body)
    header = b"MSCF" + struct.pack("<IIIIIBBHHHHH", 0, total, 0, header_size + folder_size, 0, 3, 1, 1, 1, 0, 0, 0)
    folder = struct.pack("<IHH", data_start, len(blocks), 0)
    return header + folder + file_entry + body


class SymbolServer:
    def __init__(self, root):
        self.root = Path(root)
        self.requests = collections.Counter()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests[self.path] += 1
                target = (server.root / self.path.lstrip("/")).resolve()
                if server.root.resolve() not in target.parents or not target.is_file():
                    self.send_error(404)
                    return
                body = target.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)
