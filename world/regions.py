"""Administrative regions the world's companies and people come from.

Real county-level codes (GB/T 2260), with the pieces names and documents are built from:
the city prefix of a company name, the province abbreviation in decision numbers, and
the district in agency names and addresses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Region:
    code: str
    province: str
    city: str
    district: str
    abbr: str
    weight: float

    @property
    def municipality(self) -> bool:
        return self.province.startswith(self.city)


REGIONS: tuple[Region, ...] = (
    Region("310115", "上海市", "上海", "浦东新区", "沪", 6),
    Region("310104", "上海市", "上海", "徐汇区", "沪", 3),
    Region("310112", "上海市", "上海", "闵行区", "沪", 3),
    Region("110105", "北京市", "北京", "朝阳区", "京", 5),
    Region("110108", "北京市", "北京", "海淀区", "京", 4),
    Region("120101", "天津市", "天津", "和平区", "津", 2),
    Region("500103", "重庆市", "重庆", "渝中区", "渝", 2),
    Region("440305", "广东省", "深圳", "南山区", "粤", 5),
    Region("440106", "广东省", "广州", "天河区", "粤", 4),
    Region("440604", "广东省", "佛山", "禅城区", "粤", 2),
    Region("330106", "浙江省", "杭州", "西湖区", "浙", 4),
    Region("330203", "浙江省", "宁波", "海曙区", "浙", 2),
    Region("320106", "江苏省", "南京", "鼓楼区", "苏", 3),
    Region("320508", "江苏省", "苏州", "姑苏区", "苏", 3),
    Region("510107", "四川省", "成都", "武侯区", "川", 3),
    Region("420106", "湖北省", "武汉", "武昌区", "鄂", 2),
    Region("370102", "山东省", "济南", "历下区", "鲁", 2),
    Region("370202", "山东省", "青岛", "市南区", "鲁", 2),
    Region("410105", "河南省", "郑州", "金水区", "豫", 2),
    Region("350203", "福建省", "厦门", "思明区", "闽", 2),
    Region("430103", "湖南省", "长沙", "天心区", "湘", 2),
    Region("610113", "陕西省", "西安", "雁塔区", "陕", 2),
    Region("340104", "安徽省", "合肥", "蜀山区", "皖", 2),
    Region("210102", "辽宁省", "沈阳", "和平区", "辽", 1),
    Region("230102", "黑龙江省", "哈尔滨", "道里区", "黑", 1),
    Region("530102", "云南省", "昆明", "五华区", "云", 1),
    Region("360102", "江西省", "南昌", "东湖区", "赣", 1),
    Region("130102", "河北省", "石家庄", "长安区", "冀", 1),
    Region("520102", "贵州省", "贵阳", "南明区", "黔", 1),
    Region("220102", "吉林省", "长春", "南关区", "吉", 1),
)

# Birthplaces of people also include rural counties, some with codes since abolished.
BIRTH_REGION_CODES: tuple[str, ...] = (
    *(r.code for r in REGIONS),
    "371323",
    "412822",
    "342423",
    "513022",
    "431021",
    "362427",
    "320982",
    "130221",
    "342401",
    "412726",
    "452122",
    "622421",
)

ROADS: tuple[str, ...] = (
    "中山路",
    "人民路",
    "解放路",
    "建设路",
    "长江路",
    "和平路",
    "新华路",
    "南京路",
    "延安路",
    "文化路",
    "胜利路",
    "光明路",
    "青年路",
    "朝阳路",
    "东风路",
    "黄河路",
    "学府路",
    "科技路",
    "工业大道",
    "世纪大道",
    "滨江路",
    "环城路",
    "金融街",
    "创业路",
)


def region_weights() -> np.ndarray:
    w = np.array([r.weight for r in REGIONS], dtype=float)
    return w / w.sum()


def column(attr: str) -> np.ndarray:
    """One attribute of every region, as an array indexable by region number."""
    return np.array([getattr(r, attr) for r in REGIONS], dtype=object)
