"""GB/T 4754-2017 industry codes used in the world, and which of them count as food.

The art. 135 rule covers food production and trade: codes starting C13, C14, C15
(manufacturing), F51, F52 (wholesale and retail) and H62 (catering). Matching is on the
code's leading characters, as the rule itself does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FOOD_PREFIXES: tuple[str, ...] = ("C13", "C14", "C15", "F51", "F52", "H62")
# The food classes as the law reads them (docs/ALERTS.md): a food business is one of these
# classes or one holding a food licence in force. Supermarkets (F5212) are food businesses
# of the world (they get licences) but not of a food class.
LAW_FOOD_CLASSES: tuple[str, ...] = ("C13", "C14", "C15", "F512", "F522", "H62")
HOLDING_CODE = "L7212"


@dataclass(frozen=True)
class Industry:
    code: str
    title: str
    words: tuple[str, ...]  # what a company name says it does
    weight: float  # share among operating (non-holding) companies

    @property
    def is_food(self) -> bool:
        return is_food(self.code)


INDUSTRIES: tuple[Industry, ...] = (
    Industry("C1391", "淀粉及淀粉制品制造", ("食品", "淀粉制品"), 3),
    Industry("C1411", "糕点、面包制造", ("食品", "烘焙食品"), 4),
    Industry("C1431", "米、面制品制造", ("食品", "面业"), 3),
    Industry("C1441", "液体乳制造", ("乳业", "乳制品"), 2),
    Industry("C1512", "白酒制造", ("酒业", "酿酒"), 3),
    Industry("C1523", "果菜汁及果菜汁饮料制造", ("饮品", "饮料"), 2),
    Industry("F5121", "米、面制品及食用油批发", ("食品贸易", "粮油贸易"), 5),
    Industry("F5124", "肉、禽、蛋、奶及水产品批发", ("食品贸易", "冷冻食品"), 4),
    Industry("F5212", "超级市场零售", ("超市", "商贸"), 4),
    Industry("F5221", "粮油零售", ("粮油", "食品商行"), 3),
    Industry("F5226", "酒、饮料及茶叶零售", ("茶业", "酒类销售"), 3),
    Industry("H6210", "正餐服务", ("餐饮管理", "餐饮"), 7),
    Industry("H6220", "快餐服务", ("餐饮", "快餐"), 5),
    Industry("H6241", "餐饮配送服务", ("餐饮配送", "餐饮管理"), 2),
    Industry("C3130", "钢压延加工", ("钢铁", "金属材料"), 4),
    Industry("C2710", "化学药品原料药制造", ("制药", "医药"), 3),
    Industry("I6510", "软件开发", ("软件", "信息技术"), 9),
    Industry("K7010", "房地产开发经营", ("置业", "房地产开发"), 5),
    Industry("M7320", "工程和技术研究和试验发展", ("科技", "技术开发"), 6),
    Industry(HOLDING_CODE, "投资与资产管理", ("投资管理", "投资控股", "实业"), 0),
)
BY_CODE = {i.code: i for i in INDUSTRIES}
NON_FOOD_OPERATING: tuple[str, ...] = ("C3130", "C2710", "I6510", "K7010", "M7320")


def is_food(code: str) -> bool:
    """Whether an industry code falls under the art. 135 food rule."""
    return code.startswith(FOOD_PREFIXES)


def food_mask(codes: np.ndarray) -> np.ndarray:
    """Vectorised is_food over an array of codes."""
    return (
        np.array([is_food(c) for c in codes.tolist()], dtype=bool)
        if codes.size
        else np.zeros(0, dtype=bool)
    )


def operating_codes() -> tuple[np.ndarray, np.ndarray]:
    """Codes of operating companies and their sampling probabilities."""
    ops = [i for i in INDUSTRIES if i.weight > 0]
    w = np.array([i.weight for i in ops], dtype=float)
    return np.array([i.code for i in ops], dtype=object), w / w.sum()


def food_codes() -> np.ndarray:
    return np.array([i.code for i in INDUSTRIES if i.is_food], dtype=object)


def food_class_codes() -> np.ndarray:
    """Food codes that are food classes by themselves (no licence needed to be in scope)."""
    return np.array(
        [i.code for i in INDUSTRIES if i.code.startswith(LAW_FOOD_CLASSES)], dtype=object
    )
