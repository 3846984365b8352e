"""Synthetic complaint histories for the learning tests (never the shared data files)."""

from __future__ import annotations

import random

# Category code → phrases only that category uses; fillers are shared by all.
PHRASES = {
    "ENV-NOISE": ["夜里施工噪音太大", "广场舞音响扰民", "楼上装修电钻声吵得睡不着", "酒吧音乐很吵"],
    "CITY-GARBAGE": [
        "小区垃圾堆了好几天没人清运",
        "垃圾桶满了发臭",
        "路边乱扔建筑垃圾",
        "垃圾站异味",
    ],
    "CITY-STREETLIGHT": ["路灯坏了晚上一片漆黑", "好几盏路灯不亮", "路灯一直闪", "街道照明不足"],
    "UTIL-WATER-OUTAGE": ["家里突然停水了", "整栋楼没有水", "停水两天没通知", "自来水断了"],
}
FILLERS = ["请尽快处理", "影响居民生活", "已经反映多次", "希望有关部门重视", "谢谢", "麻烦协调一下"]
PLACES = ["解放路", "人民路", "柳荫街", "石桥小区", "桃源社区", "望湖花园"]


def complaints(n: int, *, seed: int = 7) -> list[tuple[str, str, str]]:
    """(title, content, category) triples, cycling through the categories."""
    rng = random.Random(seed)
    codes = sorted(PHRASES)
    out = []
    for i in range(n):
        code = codes[i % len(codes)]
        phrase = rng.choice(PHRASES[code])
        place = rng.choice(PLACES)
        title = f"{place}{phrase[:6]}"
        content = f"{place}{phrase}，{rng.choice(FILLERS)}，{rng.choice(FILLERS)}。"
        out.append((title, content, code))
    return out


def csv_text(n: int, *, seed: int = 7) -> str:
    """The same history as a CSV with title, text, label and unit columns."""
    units = {
        "ENV-NOISE": "street-s0101",
        "CITY-GARBAGE": "street-s0101",
        "CITY-STREETLIGHT": "dept-cg-d01",
        "UTIL-WATER-OUTAGE": "util-water",
    }
    lines = ["id,title,text,label,unit"]
    for i, (title, content, code) in enumerate(complaints(n, seed=seed)):
        lines.append(f'r{i},{title},"{content}",{code},{units[code]}')
    return "\n".join(lines) + "\n"
