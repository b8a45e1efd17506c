"""tcp diagnose on captures written with dpkt: the verdicts, and hostile files skipped, counted."""

from __future__ import annotations

import io
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.tcp.diagnosis import diagnose
from stackwatch.tcp.pcap import read_capture
from tests.conftest import run_stackwatch

from .builder import ACK, CLIENT, PSH, SERVER, SYN, frame, options, pcap, transfer


def _kinds(frames: list[bytes]) -> list[set[str]]:
    result = diagnose(read_capture(io.BytesIO(pcap(frames))))
    return [{f.kind for f in d.findings} for d in result.connections]


def test_a_stripped_syn_ack_with_windows_that_only_make_sense_scaled() -> None:
    # the server offered scale 7 (removed on the way) and advertises 8, meaning 1024 bytes
    assert _kinds(transfer(7, None, server_windows=8)) == [{"one-sided-scale", "unscaled-bound"}]


def test_one_side_without_scaling_and_sane_windows_is_only_told() -> None:
    kinds = _kinds(transfer(7, None, server_windows=60000))
    assert kinds == [{"one-sided-scale"}]


def test_scaling_on_both_sides_and_growing_windows_is_healthy() -> None:
    result = diagnose(read_capture(io.BytesIO(pcap(transfer(7, 7, server_windows=1000)))))
    (connection,) = result.connections
    assert not result.problems and connection.findings == []
    assert connection.connection.scaling
    assert connection.connection.client.bytes_sent == 10_000  # across the sequence wrap
    assert connection.connection.client.retransmissions == 0


def test_a_side_that_keeps_its_handshake_window_does_not_scale() -> None:
    assert "unscaled-windows" in _kinds(transfer(7, 7, server_windows=65160))[0]


def test_zero_windows_and_retransmissions_are_counted() -> None:
    frames = transfer(7, 7, server_windows=0, rounds=3)
    frames.append(frame(CLIENT, SERVER, ACK | PSH, 4_294_967_001, 5001, 502, 1000))  # again
    result = diagnose(read_capture(io.BytesIO(pcap(frames))))
    side = result.connections[0].connection
    assert side.server.zero_windows == 3
    assert side.client.retransmissions == 1
    assert {"zero-window", "retransmissions"} <= {f.kind for f in result.connections[0].findings}


def test_damaged_packets_are_skipped_and_counted() -> None:
    good = transfer(7, 7, server_windows=1000, rounds=2)
    bad_option = frame(CLIENT, SERVER, SYN, 1, 0, 100, opts=b"\x03\x05\x07\x00")  # wscale len 5
    huge_scale = frame(CLIENT, SERVER, SYN, 1, 0, 100, opts=b"\x03\x03\x0f\x00")  # shift 15
    cut = frame(CLIENT, SERVER, ACK, 1, 1, 100)[: 14 + 20 + 10]  # inside the TCP header
    data = pcap([*good, bad_option, huge_scale, cut])
    capture = read_capture(io.BytesIO(data[:-5]))  # and the last record cut short
    assert len(capture.segments) == len(good)
    assert capture.skipped.bad_options == 2
    assert capture.skipped.truncated_file == 1


def test_a_snap_length_keeps_the_payload_size_from_the_ip_header() -> None:
    frames = [f[: 14 + 20 + 40] for f in transfer(7, 7, server_windows=1000, rounds=2)]
    capture = read_capture(io.BytesIO(pcap(frames, snaplen=74)))
    assert sum(s.length for s in capture.segments) == 2000


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=120), max_size=12))
def test_any_bytes_as_frames_never_crash_and_every_packet_is_accounted(
    frames: list[bytes],
) -> None:
    capture = read_capture(io.BytesIO(pcap(frames)))
    skipped = capture.skipped
    counted = skipped.not_tcp + skipped.cut + skipped.undecodable + skipped.bad_options
    assert len(capture.segments) + counted == capture.packets == len(frames)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40).map(lambda b: b[: len(b) // 4 * 4]))
def test_any_option_bytes_are_read_or_skipped(raw: bytes) -> None:
    capture = read_capture(io.BytesIO(pcap([frame(CLIENT, SERVER, SYN, 1, 0, 100, opts=raw)])))
    assert len(capture.segments) + capture.skipped.bad_options + capture.skipped.cut == 1
    diagnose(capture)


def test_the_command_reads_a_file_and_exits_4_on_a_problem(tmp_path: Path) -> None:
    capture = tmp_path / "stripped.pcap"
    capture.write_bytes(pcap(transfer(7, None, server_windows=8)))
    result = run_stackwatch("tcp", "diagnose", str(capture), "--format", "json")
    assert result.returncode == 4
    report = json.loads(result.stdout)
    assert report["connections"][0]["sides"][1]["syn"]["wscale"] is None
    assert report["fixes"]


def test_not_a_capture_is_one_line_and_exit_2(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"GET / HTTP/1.1\r\n\r\n")
    for args in ([str(junk)], [str(tmp_path / "absent.pcap")], []):
        result = run_stackwatch("tcp", "diagnose", *args)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr


def test_a_syn_without_options() -> None:
    frames = [frame(CLIENT, SERVER, SYN, 1, 0, 100, opts=options(None, None, False))]
    (connection,) = diagnose(read_capture(io.BytesIO(pcap(frames)))).connections
    assert connection.connection.client.handshake is not None
    assert connection.connection.client.handshake.mss is None


def test_pcapng_reads_as_pcap_does() -> None:
    import dpkt

    out = io.BytesIO()
    writer = dpkt.pcapng.Writer(out)
    frames = transfer(7, None, server_windows=8)
    for index, data in enumerate(frames):
        writer.writepkt(data, ts=1000.0 + index * 0.01)
    capture = read_capture(io.BytesIO(out.getvalue()))
    assert len(capture.segments) == len(frames) and capture.skipped.hostile == 0
    assert diagnose(capture).problems
