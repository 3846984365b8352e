"""SSE frames written by the streams themselves."""

from pydantic import BaseModel

from jiesu_common.sse import KEEPALIVE, frame


class _Case(BaseModel):
    case_id: str
    note: str


def test_a_frame_carries_event_json_data_id_and_retry() -> None:
    raw = frame("case", _Case(case_id="c-1", note="第一行\n第二行"), id="42", retry=2000)
    assert raw.decode() == (
        'event: case\ndata: {"case_id":"c-1","note":"第一行\\n第二行"}\nid: 42\nretry: 2000\n\n'
    )
    assert (
        frame("ready", {"unit_id": "dept-jt"}) == b'event: ready\ndata: {"unit_id": "dept-jt"}\n\n'
    )


def test_the_keepalive_is_a_comment_clients_ignore() -> None:
    assert KEEPALIVE.startswith(b":") and KEEPALIVE.endswith(b"\n\n")
