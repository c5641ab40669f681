#!/usr/bin/env python3
"""Seed corpora for the cargo fuzz targets of tests/fuzz, built at run time from the shared test
corpus (../shared/corpus beside the repository) and the repository's own example files.

    tests/fuzz/seeds.py OUT_DIR

writes OUT_DIR/<target>/<sha1> files. Nothing here is committed: the corpus is third-party data
that stays in shared/ (see its INDEX.md), and seeds are regenerated on every run.

Per-protocol targets take `hygie_fuzz::sender_and_payload`'s layout: a flags byte (bit 0: on
the link, bit 1: IPv6 source), the frame's source MAC, the IP source address, then the payload
the decoder reads. The proto targets get protobuf messages encoded here from what the frames
say (MACs, addresses, DHCP options, SSDP headers), so the fuzzer starts from realistic values.
"""

import hashlib
import os
import struct
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(os.path.dirname(REPO), "shared", "corpus")
# Frames per target: enough variety, small enough for a 20 s pass to read them all.
CAP = 600
# Frames per target from one capture, so that every capture gets a say.
PER_FILE = 25
CAPTURE_MAX_BYTES = 64 * 1024

LINKS = {1: 0, 113: 1, 276: 2}  # pcap link type -> the frame target's first byte


def frames_of(data):
    """(link type, frame) of a pcap or pcapng file; stops quietly at the first damage."""
    out = []
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        links, endian, at = [], "<", 0
        while at + 12 <= len(data):
            kind = struct.unpack_from(endian + "I", data, at)[0]
            if kind == 0x0A0D0D0A:
                endian = "<" if data[at + 8:at + 12] == b"\x4d\x3c\x2b\x1a" else ">"
                links = []
            length = struct.unpack_from(endian + "I", data, at + 4)[0]
            if length < 12 or at + length > len(data):
                break
            body = data[at + 8:at + length - 4]
            if kind == 1 and len(body) >= 2:
                links.append(struct.unpack_from(endian + "H", body, 0)[0])
            elif kind == 6 and len(body) >= 20:
                interface, _, _, captured, _ = struct.unpack_from(endian + "IIIII", body, 0)
                if interface < len(links):
                    out.append((links[interface], body[20:20 + captured]))
            elif kind == 3 and len(body) >= 4 and links:
                out.append((links[0], body[4:]))
            at += length
        return out
    if len(data) < 24:
        return out
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    link = struct.unpack_from(endian + "I", data, 20)[0] & 0xFFFF
    at = 24
    while at + 16 <= len(data):
        captured = struct.unpack_from(endian + "I", data, at + 8)[0]
        frame = data[at + 16:at + 16 + captured]
        out.append((link, frame))
        at += 16 + captured
    return out


def header(mac, ip, on_link=True):
    flags = (1 if on_link else 0) | (2 if len(ip) == 16 else 0)
    return bytes([flags]) + mac + ip


def dissect(link, frame):
    """(target, seed) pairs for the per-protocol targets, plus facts for the proto seeds."""
    seeds, facts = [], {}
    if link == 1:
        if len(frame) < 14:
            return seeds, facts
        source, ethertype, rest = frame[6:12], struct.unpack(">H", frame[12:14])[0], frame[14:]
    elif link == 113:
        if len(frame) < 16:
            return seeds, facts
        source, ethertype, rest = frame[6:12], struct.unpack(">H", frame[14:16])[0], frame[16:]
    elif link == 276:
        if len(frame) < 20:
            return seeds, facts
        source, ethertype, rest = frame[12:18], struct.unpack(">H", frame[0:2])[0], frame[20:]
    else:
        return seeds, facts
    for _ in range(2):
        if ethertype in (0x8100, 0x88A8, 0x9100) and len(rest) >= 4:
            ethertype, rest = struct.unpack(">H", rest[2:4])[0], rest[4:]
    if ethertype <= 1500 and rest[:3] == b"\xaa\xaa\x03" and len(rest) >= 8:
        oui, pid = rest[3:6], struct.unpack(">H", rest[6:8])[0]
        body = rest[8:8 + max(ethertype, 8) - 8]
        if oui == b"\x00\x00\x0c" and pid == 0x2000:
            seeds.append(("cdp", header(source, bytes(4)) + body))
            return seeds, facts
        if oui == b"\x00\x00\x00":
            ethertype, rest = pid, body
    if ethertype == 0x0806:
        seeds.append(("arp", header(source, bytes(4)) + rest))
        if len(rest) >= 28:
            facts["arp"] = (rest[8:14], rest[14:18])
    elif ethertype == 0x88CC:
        seeds.append(("lldp", header(source, bytes(4)) + rest))
    elif ethertype == 0x0800 and len(rest) >= 20 and rest[0] >> 4 == 4:
        ihl = (rest[0] & 15) * 4
        if rest[9] == 17 and len(rest) >= ihl + 8:
            udp(seeds, facts, header(source, rest[12:16], rest[16] >= 224 or rest[19] == 255),
                rest[ihl:])
    elif ethertype == 0x86DD and len(rest) >= 40 and rest[0] >> 4 == 6:
        hdr = header(source, rest[8:24], rest[24] == 0xFF or rest[8:10] == b"\xfe\x80")
        if rest[6] == 17 and len(rest) >= 48:
            udp(seeds, facts, hdr, rest[40:])
        elif rest[6] == 58 and len(rest) > 40 and 133 <= rest[40] <= 137:
            seeds.append(("nd", hdr + rest[40:]))
    return seeds, facts


PORTS = {5353: "mdns", 67: "dhcp", 68: "dhcp", 546: "dhcpv6", 547: "dhcpv6", 1900: "ssdp",
         137: "nbns", 5355: "llmnr"}


def udp(seeds, facts, hdr, segment):
    ports = struct.unpack(">HH", segment[:4])
    payload = segment[8:]
    for port in ports:
        target = PORTS.get(port)
        if target:
            seeds.append((target, hdr + payload))
            if target == "dhcp":
                facts["dhcp"] = dhcp_facts(payload)
            if target == "ssdp":
                facts["ssdp"] = ssdp_facts(payload)
            return


def dhcp_facts(payload):
    if len(payload) < 240 or payload[236:240] != b"\x63\x82\x53\x63":
        return None
    options, at = {}, 240
    while at + 2 <= len(payload) and payload[at] != 255:
        if payload[at] == 0:
            at += 1
            continue
        code, length = payload[at], payload[at + 1]
        options[code] = payload[at + 2:at + 2 + length]
        at += 2 + length
    return payload[28:34], options


def ssdp_facts(payload):
    headers = {}
    for line in payload.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return headers


# --- protobuf, by hand: only what the seeds need ---------------------------------------------
def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number, value):
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    return varint(number << 3 | 2) + varint(len(value)) + value


def observation(mac, ipv4=(), hostname=b"", source=1, detail=b"", services=()):
    out = field(1, mac)
    for ip in ipv4:
        out += field(2, ip)
    out += field(4, field(1, 1_795_000_000) + field(2, 5))
    out += field(5, source) + field(6, b"eth0")
    if hostname:
        out += field(7, hostname)
    for service in services:
        out += field(8, service)
    return out + detail


def proto_seeds(facts):
    observations = []
    for mac, ip in facts.get("arp", [])[:40]:
        observations.append(observation(mac, [ip]))
    for mac, options in facts.get("dhcp", [])[:40]:
        prl = options.get(55, b"")
        dhcp = field(1, 4) + field(2, (options.get(53) or b"\x01")[0])
        if prl:
            dhcp += field(3, prl)  # packed varints: every code below 128 is one byte
        if options.get(60):
            dhcp += field(4, options[60])
        if options.get(61):
            dhcp += field(6, options[61])
        observations.append(observation(mac, [], options.get(12, b""), 4, field(16, dhcp)))
    for mac, headers in facts.get("ssdp", [])[:40]:
        ssdp = field(1, 1)
        for name, number in ((b"nts", 2), (b"server", 3), (b"user-agent", 4), (b"nt", 5),
                             (b"usn", 6), (b"location", 7)):
            if headers.get(name):
                ssdp += field(number, headers[name])
        observations.append(observation(mac, [], b"", 6, field(18, ssdp)))
    service = (field(1, b"Ward 3 Printer._ipp._tcp.local.") + field(2, b"_ipp._tcp.local.")
               + field(3, 631) + field(4, field(1, b"ty") + field(2, b"Lexmark MX622"))
               + field(4, field(1, b"duplex") + field(3, 1)))
    mac = bytes.fromhex("00095c112201")
    observations.append(observation(mac, [bytes([198, 18, 0, 11])], b"mon-icu-01.local", 3,
                                    b"", [service]))
    observations.append(observation(mac, [], b"", 5, field(17, field(1, b"chassis")
                                    + field(2, b"port 1") + field(6, b"telephone")
                                    + field(8, field(1, 3) + field(7, b"MX450")))))
    observations.append(observation(mac, [], b"", 9, field(19, field(1, b"SEP001122")
                                    + field(2, b"cisco IP Phone") + field(5, b"phone")
                                    + field(6, bytes([198, 18, 0, 1])) + field(7, 10))))
    observations.append(observation(mac, [], b"", 10, field(20, field(1, field(1, b"WARD3")
                                    + field(2, 0x20)) + field(2, b"HOSPITAL"))))
    observations.append(observation(mac, [], b"", 12, field(21, field(1, 1))))
    seeds = {"proto_observation": observations}
    batches = [field(1, 1 + index) + field(2, obs) for index, obs in enumerate(observations)]
    batches.append(field(1, 7) + b"".join(field(2, obs) for obs in observations[:20]))
    seeds["proto_batch"] = batches
    interface = field(1, b"eth0") + field(2, mac) + field(3, field(1, bytes([198, 18, 0, 2]))
                                                      + field(2, 24))
    hello = field(1, b"0.1.0") + field(2, b"agent-ward3") + field(3, interface) + field(4, bytes(16))
    seeds["proto_hello"] = [hello, hello + field(3, field(1, b"lo"))]
    devices = [field(1, obs[2:8]) + field(2, bytes([198, 18, 0, 11])) + field(3, 1)
               for obs in observations[:20]]
    policy = field(1, 3) + b"".join(field(2, device) for device in devices) + field(
        3, field(1, bytes([198, 18, 7, 0])) + field(2, 24))
    seeds["proto_scan_policy"] = [policy, field(1, 4) + field(4, 1)]
    agent = [field(1, hello), field(3, field(1, 3))] + [field(2, batch) for batch in batches]
    seeds["proto_agent_message"] = agent
    collector = [field(1, field(1, b"ward3") + field(2, b"site") + field(3, 500)),
                 field(2, field(1, 4) + field(2, 10)), field(3, policy)]
    seeds["wire_check"] = [b"\x00" + m for m in agent] + [b"\x01" + m for m in collector]
    return seeds


def text_seeds():
    seeds = {}
    example = os.path.join(REPO, "packaging", "examples", "registry.csv")
    registry = [open(example, "rb").read()]
    ieee = os.path.join(CORPUS, "oui", "ieee-data_debian", "oui.csv")
    if os.path.exists(ieee):
        with open(ieee, "rb") as file:
            registry.append(b"".join(file.readline() for _ in range(30)))
    seeds["registry_csv"] = registry
    rules = open(os.path.join(REPO, "collector", "classify", "rules", "default.toml"), "rb").read()
    # One seed per handful of rules: the whole file makes every execution slow.
    blocks = rules.split(b"\n[[rule]]")
    seeds["rules"] = [b"[[rule]]" + b"\n[[rule]]".join(blocks[at:at + 4])
                      for at in range(1, len(blocks), 4)]
    seeds["agent_config"] = [open(os.path.join(REPO, "packaging", "agent.toml"), "rb").read()]
    seeds["collector_config"] = [
        open(os.path.join(REPO, "packaging", "collector.toml"), "rb").read()]
    return seeds


def write(out, target, seed):
    directory = os.path.join(out, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, hashlib.sha1(seed).hexdigest()), "wb") as file:
        file.write(seed)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    counts, facts = {}, {"arp": [], "dhcp": [], "ssdp": []}
    captures, seen, per_file = [], set(), {}
    for root, _, files in sorted(os.walk(os.path.join(CORPUS, "pcap"))):
        for name in sorted(files):
            if not name.endswith((".pcap", ".pcapng")):
                continue
            path = os.path.join(root, name)
            data = open(path, "rb").read()
            if len(data) <= CAPTURE_MAX_BYTES:
                captures.append(data)
            for link, frame in frames_of(data):
                if link not in LINKS:
                    continue
                pairs, found = dissect(link, frame)
                if pairs:
                    pairs.append(("frame", bytes([LINKS[link]]) + frame))
                for target, seed in pairs:
                    digest = hashlib.sha1(seed).digest()
                    here = (path, target)
                    if digest in seen or per_file.get(here, 0) >= PER_FILE:
                        continue
                    if counts.get(target, 0) < CAP:
                        seen.add(digest)
                        per_file[here] = per_file.get(here, 0) + 1
                        counts[target] = counts.get(target, 0) + 1
                        write(out, target, seed)
                for kind, value in found.items():
                    if value is None:
                        continue
                    if kind == "ssdp":
                        value = (frame[6:12], value)
                    facts[kind].append(value)
    for capture in captures:
        write(out, "capture", capture)
    for target, seeds in list(proto_seeds(facts).items()) + list(text_seeds().items()):
        for seed in seeds:
            write(out, target, seed)
    for target in sorted(os.listdir(out)):
        print(f"{target}: {len(os.listdir(os.path.join(out, target)))} seeds")


if __name__ == "__main__":
    main()
