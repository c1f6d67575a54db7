#!/usr/bin/env python3
"""Seed corpora: for the `decode` fuzz target every frame of the project's
own captures in pcaps/, prefixed with the link-type selector byte the target
expects; for the `flows` target the flow fixtures. Usage: python3 fuzz/make_corpus.py [PCAP_DIR] [OUT_DIR]"""
import os
import struct
import sys

SELECTOR = {1: 0, 113: 1, 276: 2, 101: 3, 228: 4, 229: 5, 0: 6, 108: 7}


def frames_pcap(data):
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None, []
    linktype = struct.unpack(e + "I", data[20:24])[0] & 0x0FFFFFFF
    off, out = 24, []
    while off + 16 <= len(data):
        caplen = struct.unpack(e + "I", data[off + 8:off + 12])[0]
        out.append(data[off + 16:off + 16 + caplen])
        off += 16 + caplen
    return linktype, out


def frames_pcapng(data):
    off, linktypes, out = 0, [], []
    while off + 12 <= len(data):
        btype, blen = struct.unpack("<II", data[off:off + 8])
        if blen < 12:
            break
        body = data[off + 8:off + blen - 4]
        if btype == 1:
            linktypes.append(struct.unpack("<H", body[:2])[0])
        elif btype == 6 and len(body) >= 20:
            iface, _, _, caplen, _ = struct.unpack("<IIIII", body[:20])
            lt = linktypes[iface] if iface < len(linktypes) else 1
            out.append((lt, body[20:20 + caplen]))
        off += blen
    return out


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "pcaps")
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "fuzz", "corpus", "decode")
    os.makedirs(dst, exist_ok=True)
    n = 0
    for name in sorted(os.listdir(src)):
        path = os.path.join(src, name)
        data = open(path, "rb").read()
        if name.endswith(".pcapng"):
            frames = frames_pcapng(data)
        elif name.endswith(".pcap"):
            lt, fr = frames_pcap(data)
            frames = [(lt, f) for f in fr]
        else:
            continue
        for i, (lt, f) in enumerate(frames):
            with open(os.path.join(dst, f"{name}-{i:05}"), "wb") as out:
                out.write(bytes([SELECTOR.get(lt, 8)]) + f)
            n += 1
    print(f"wrote {n} seeds to {dst}")
    flows(root)


def flows(root):
    """Seeds of the `flows` target: the IPFIX export capture's datagrams
    (mode byte 0, each with a 2-byte length) and every flow log fixture
    (mode byte 0x80, decompressed, at most 60 kB)."""
    import gzip
    dst = os.path.join(root, "fuzz", "corpus", "flows")
    os.makedirs(dst, exist_ok=True)
    cap = os.path.join(root, "tests", "fixtures", "flows", "ipfix", "erspan3-softflowd.pcap")
    _, datagrams = frames_pcap(open(cap, "rb").read())
    # Raw IPv4 frames: the UDP payload after 20 + 8 bytes.
    seed = b"\x00" + b"".join(struct.pack(">H", len(d) - 28) + d[28:] for d in datagrams)
    open(os.path.join(dst, "ipfix-softflowd"), "wb").write(seed)
    n = 1
    base = os.path.join(root, "tests", "fixtures", "flows")
    for sub in sorted(os.listdir(base)):
        d = os.path.join(base, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if name.endswith((".md", ".pcap")):
                continue
            data = open(os.path.join(d, name), "rb").read()
            if name.endswith(".gz"):
                data = gzip.decompress(data)
            open(os.path.join(dst, f"{sub}-{name}"), "wb").write(b"\x80" + data[:60000])
            n += 1
    print(f"wrote {n} seeds to {dst}")


if __name__ == "__main__":
    main()
