"""Generate a synthetic, seeded credit population and the furnishers' batch files about it.

Every subject draws a latent risk ``r ~ N(0, 1)``. The risk sets the monthly chance that an
account falls overdue and how fast it is cured, the chance of tax and utility arrears, of
lawsuits, enforcement and listing, of administrative penalties, of tax grades and of
commendations; and, separately, the chance of defaulting in the twelve months after the
observation date (``labels.csv``). Models trained on the records therefore find real signal,
while the outcome itself never appears in them.

Output layout (paths relative to ``out_dir``)::

    manifest.json                                     what was generated, see SynthManifest
    <furnisher_code>/<record_type>.jsonl|.csv         one initial batch per furnisher and type
    <bank_code>/credit_account.corrections.jsonl|.csv monthly updates and deletions (optional)
    labels.csv                                        subject_id_type, subject_identifier,
                                                      default_12m, observation_date

Determinism: the same ``(persons, enterprises, seed, file_format, as_of, corrections)`` gives
byte-identical files. All randomness comes from one :class:`random.Random` seeded with
``seed`` and two Faker instances seeded from it; nothing iterates over a set.

Dates: every date written is on or before ``as_of``. Forward-looking dates (the maturity of
a running loan, the end of a licence's validity, the end of a listing term) are left out
while they lie in the future: they are optional in the catalog, and a record must not state
as fact something that has not happened by its observation date.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import count
from pathlib import Path
from typing import IO, Any, ClassVar, Final, Literal, cast, get_args

from faker import Faker

from xinyong.catalog.service import ENVELOPE_FIELDS, get_catalog
from xinyong.errors import XinyongError
from xinyong.identity.identifiers import (
    REGIONS,
    USCC_ALPHABET,
    IdentifierType,
    make_resident_id,
    make_uscc,
)

__all__ = [
    "DEFAULT_AS_OF",
    "ENVELOPE_KEYS",
    "LABELS_FILE",
    "LABEL_COLUMNS",
    "MANIFEST_FILE",
    "BatchFileSpec",
    "FileFormat",
    "FileKind",
    "FurnisherKind",
    "FurnisherSpec",
    "SynthError",
    "SynthManifest",
    "generate_population",
    "read_manifest",
]

FileFormat = Literal["jsonl", "csv"]
FileKind = Literal["initial", "corrections"]
FurnisherKind = Literal[
    "bank",
    "tax_authority",
    "court",
    "market_regulator",
    "utility",
    "social_insurance",
    "government",
]
FILE_FORMATS: Final[tuple[str, ...]] = get_args(FileFormat)
FILE_KINDS: Final[tuple[str, ...]] = get_args(FileKind)
FURNISHER_KINDS: Final[tuple[str, ...]] = get_args(FurnisherKind)

DEFAULT_AS_OF: Final = date(2026, 10, 31)
MANIFEST_FILE: Final = "manifest.json"
LABELS_FILE: Final = "labels.csv"
LABEL_COLUMNS: Final = ("subject_id_type", "subject_identifier", "default_12m", "observation_date")

# The keys every record row carries besides its type's fields, in file order.
ENVELOPE_KEYS: Final = ENVELOPE_FIELDS

_GRID_MONTHS: Final = 60  # PBoC second-generation report grid length (RULES.md 28)


class SynthError(XinyongError):
    """Bad generator parameters, or a manifest that cannot be read."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "synth_error"
    title: ClassVar[str] = "Synthetic data error"


# --- public data classes ------------------------------------------------------------------


@dataclass(frozen=True)
class FurnisherSpec:
    """A demo furnisher: who submits which record types."""

    code: str
    name_zh: str
    name_en: str
    uscc: str
    kind: FurnisherKind
    record_types: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping."""
        return {
            "code": self.code,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "uscc": self.uscc,
            "kind": self.kind,
            "record_types": list(self.record_types),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FurnisherSpec:
        """Inverse of :meth:`to_dict`."""
        kind = str(data["kind"])
        if kind not in FURNISHER_KINDS:
            raise SynthError(f"unknown furnisher kind {kind!r}")
        return cls(
            code=str(data["code"]),
            name_zh=str(data["name_zh"]),
            name_en=str(data["name_en"]),
            uscc=str(data["uscc"]),
            kind=cast(FurnisherKind, kind),
            record_types=tuple(str(t) for t in data["record_types"]),
        )


@dataclass(frozen=True)
class BatchFileSpec:
    """One generated batch file; ``path`` is relative to the output directory, with ``/``."""

    furnisher_code: str
    record_type: str
    path: str
    format: FileFormat
    rows: int
    kind: FileKind

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping."""
        return {
            "furnisher_code": self.furnisher_code,
            "record_type": self.record_type,
            "path": self.path,
            "format": self.format,
            "rows": self.rows,
            "kind": self.kind,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BatchFileSpec:
        """Inverse of :meth:`to_dict`."""
        fmt, kind = str(data["format"]), str(data["kind"])
        if fmt not in FILE_FORMATS or kind not in FILE_KINDS:
            raise SynthError(f"unknown file format {fmt!r} or kind {kind!r}")
        return cls(
            furnisher_code=str(data["furnisher_code"]),
            record_type=str(data["record_type"]),
            path=str(data["path"]),
            format=cast(FileFormat, fmt),
            rows=int(data["rows"]),
            kind=cast(FileKind, kind),
        )


@dataclass(frozen=True)
class SynthManifest:
    """What :func:`generate_population` wrote, saved as ``manifest.json`` beside the files."""

    seed: int
    as_of: date
    persons: int
    enterprises: int
    catalog_version: str
    furnishers: tuple[FurnisherSpec, ...]
    files: tuple[BatchFileSpec, ...]
    labels_path: str

    def rows_by_record_type(self, kind: FileKind | None = None) -> dict[str, int]:
        """Rows per record type (optionally of one file kind), in first-seen file order."""
        totals: dict[str, int] = {}
        for spec in self.files:
            if kind is None or spec.kind == kind:
                totals[spec.record_type] = totals.get(spec.record_type, 0) + spec.rows
        return totals

    def to_json(self) -> str:
        """Serialise to indented UTF-8 JSON text (stable key order, trailing newline)."""
        data = {
            "seed": self.seed,
            "as_of": self.as_of.isoformat(),
            "persons": self.persons,
            "enterprises": self.enterprises,
            "catalog_version": self.catalog_version,
            "furnishers": [f.to_dict() for f in self.furnishers],
            "files": [f.to_dict() for f in self.files],
            "labels_path": self.labels_path,
        }
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SynthManifest:
        """Parse :meth:`to_json` output; raise :class:`SynthError` if it is malformed."""
        try:
            data = json.loads(text)
            return cls(
                seed=int(data["seed"]),
                as_of=date.fromisoformat(data["as_of"]),
                persons=int(data["persons"]),
                enterprises=int(data["enterprises"]),
                catalog_version=str(data["catalog_version"]),
                furnishers=tuple(FurnisherSpec.from_dict(f) for f in data["furnishers"]),
                files=tuple(BatchFileSpec.from_dict(f) for f in data["files"]),
                labels_path=str(data["labels_path"]),
            )
        except SynthError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise SynthError(f"malformed synth manifest: {exc}") from exc


def read_manifest(out_dir: Path) -> SynthManifest:
    """Read ``manifest.json`` from a directory written by :func:`generate_population`."""
    path = out_dir / MANIFEST_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SynthError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return SynthManifest.from_json(text)


# --- catalog layout -------------------------------------------------------------------------


@dataclass(frozen=True)
class _CatalogLayout:
    """The little of the catalog the generator needs: its version and field order."""

    version: str
    fields: Mapping[str, tuple[str, ...]]
    field_sets: Mapping[str, frozenset[str]]


def _load_catalog_layout() -> _CatalogLayout:
    catalog = get_catalog()
    fields = {code: rt.field_names for code, rt in catalog.record_types.items()}
    return _CatalogLayout(
        version=catalog.version,
        fields=fields,
        field_sets={code: frozenset(names) for code, names in fields.items()},
    )


# --- small helpers --------------------------------------------------------------------------


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def _month_start(mi: int) -> date:
    return date(mi // 12, mi % 12 + 1, 1)


def _month_end(mi: int) -> date:
    return _month_start(mi + 1) - timedelta(days=1)


def _month_text(mi: int) -> str:
    return f"{mi // 12:04d}-{mi % 12 + 1:02d}"


def _add_months(d: date, months: int) -> date:
    mi = _month_index(d) + months
    return min(_month_start(mi) + timedelta(days=d.day - 1), _month_end(mi))


def _add_years(d: date, years: int) -> date:
    return _add_months(d, 12 * years)


def _amount(cents: int) -> str:
    """Format integer cents as a catalog amount: two decimals, no sign, no grouping."""
    cents = max(cents, 0)
    return f"{cents // 100}.{cents % 100:02d}"


def _iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


# Province-level divisions by the first two digits of a GB/T 2260 code, for organisation names
# and English renderings (the REGIONS names are zh-CN only).
_PROVINCES: Final[Mapping[str, tuple[str, str]]] = {
    "11": ("北京市", "Beijing"),
    "12": ("天津市", "Tianjin"),
    "13": ("河北省", "Hebei"),
    "14": ("山西省", "Shanxi"),
    "15": ("内蒙古自治区", "Inner Mongolia"),
    "21": ("辽宁省", "Liaoning"),
    "22": ("吉林省", "Jilin"),
    "23": ("黑龙江省", "Heilongjiang"),
    "31": ("上海市", "Shanghai"),
    "32": ("江苏省", "Jiangsu"),
    "33": ("浙江省", "Zhejiang"),
    "34": ("安徽省", "Anhui"),
    "35": ("福建省", "Fujian"),
    "36": ("江西省", "Jiangxi"),
    "37": ("山东省", "Shandong"),
    "41": ("河南省", "Henan"),
    "42": ("湖北省", "Hubei"),
    "43": ("湖南省", "Hunan"),
    "44": ("广东省", "Guangdong"),
    "45": ("广西壮族自治区", "Guangxi"),
    "46": ("海南省", "Hainan"),
    "50": ("重庆市", "Chongqing"),
    "51": ("四川省", "Sichuan"),
    "52": ("贵州省", "Guizhou"),
    "53": ("云南省", "Yunnan"),
    "54": ("西藏自治区", "Xizang"),
    "61": ("陕西省", "Shaanxi"),
    "62": ("甘肃省", "Gansu"),
    "63": ("青海省", "Qinghai"),
    "64": ("宁夏回族自治区", "Ningxia"),
    "65": ("新疆维吾尔自治区", "Xinjiang"),
}


def _province(region: str) -> tuple[str, str]:
    return _PROVINCES.get(region[:2], ("", "China"))


def _city_short(region_name: str) -> str:
    """``江西省九江市德安县`` → ``九江``; ``北京市东城区`` → ``北京``."""
    rest = region_name
    for marker in ("自治区", "省"):
        cut = rest.find(marker)
        if cut >= 0 and "市" in rest[cut:]:
            rest = rest[cut + len(marker) :]
            break
    cut = rest.find("市")
    return rest[:cut] if cut > 0 else rest[:2]


def _county(region_name: str) -> str:
    """The last administrative level of a region name: ``北京市东城区`` → ``东城区``."""
    for marker in ("市", "州", "盟"):
        cut = region_name.rfind(marker)
        if 0 <= cut < len(region_name) - 1:
            return region_name[cut + 1 :]
    return region_name


def _pinyin_table(text: str) -> dict[str, str]:
    """Parse ``"王:Wang 李:Li"`` into a mapping; keeps long tables compact and readable."""
    return dict(pair.split(":", 1) for pair in text.split())


# Pinyin for the given-name characters of Faker's zh_CN person provider and for its commonest
# surnames (about 97 % of its surname weight). English names follow GB/T 28039-2011: surname
# first, then the given name's syllables run together ("Wang Jianguo").
_SURNAME_PINYIN: Final[Mapping[str, str]] = _pinyin_table(
    "王:Wang 李:Li 张:Zhang 刘:Liu 陈:Chen 杨:Yang 黄:Huang 吴:Wu 赵:Zhao 周:Zhou 徐:Xu 孙:Sun "
    "马:Ma 朱:Zhu 胡:Hu 林:Lin 郭:Guo 何:He 高:Gao 罗:Luo 郑:Zheng 梁:Liang 谢:Xie 宋:Song "
    "唐:Tang 许:Xu 邓:Deng 冯:Feng 韩:Han 曹:Cao 曾:Zeng 彭:Peng 萧:Xiao 蔡:Cai 潘:Pan 田:Tian "
    "董:Dong 袁:Yuan 余:Yu 叶:Ye 蒋:Jiang 杜:Du 苏:Su 魏:Wei 程:Cheng 吕:Lyu 丁:Ding 沈:Shen "
    "任:Ren 姚:Yao 卢:Lu 傅:Fu 钟:Zhong 姜:Jiang 崔:Cui 谭:Tan 廖:Liao 范:Fan 汪:Wang 陆:Lu "
    "金:Jin 石:Shi 戴:Dai 贾:Jia 韦:Wei 夏:Xia 邱:Qiu 方:Fang 侯:Hou 邹:Zou 熊:Xiong 孟:Meng "
    "秦:Qin 白:Bai 江:Jiang 阎:Yan 薛:Xue 尹:Yin 段:Duan 雷:Lei 鞠:Ju 黎:Li 史:Shi 龙:Long "
    "陶:Tao 贺:He 顾:Gu 毛:Mao 郝:Hao 龚:Gong 邵:Shao 万:Wan 钱:Qian 严:Yan 赖:Lai 覃:Qin "
    "洪:Hong 武:Wu 莫:Mo 孔:Kong 汤:Tang 向:Xiang 常:Chang 温:Wen 康:Kang 施:Shi 文:Wen 牛:Niu "
    "樊:Fan 葛:Ge 邢:Xing 安:An 齐:Qi 易:Yi 乔:Qiao 伍:Wu 庞:Pang 颜:Yan 倪:Ni 庄:Zhuang 聂:Nie "
    "章:Zhang 鲁:Lu 岳:Yue 翟:Zhai 殷:Yin 詹:Zhan 申:Shen 欧:Ou 耿:Geng 关:Guan 兰:Lan 焦:Jiao "
    "俞:Yu 左:Zuo 柳:Liu 甘:Gan 祝:Zhu 包:Bao 宁:Ning 尚:Shang 符:Fu 舒:Shu 阮:Ruan 柯:Ke 纪:Ji "
    "梅:Mei 童:Tong 凌:Ling 毕:Bi 单:Shan 季:Ji 裴:Pei 霍:Huo 涂:Tu 成:Cheng 苗:Miao 谷:Gu "
    "盛:Sheng 曲:Qu 欧阳:Ouyang"
)
_GIVEN_PINYIN: Final[Mapping[str, str]] = _pinyin_table(
    "伟:wei 强:qiang 磊:lei 洋:yang 勇:yong 军:jun 杰:jie 涛:tao 超:chao 明:ming 刚:gang 平:ping "
    "辉:hui 鹏:peng 华:hua 飞:fei 鑫:xin 波:bo 斌:bin 宇:yu 浩:hao 凯:kai 健:jian 俊:jun 帆:fan "
    "帅:shuai 旭:xu 宁:ning 龙:long 林:lin 欢:huan 佳:jia 阳:yang 建:jian 亮:liang 成:cheng "
    "峰:feng 国:guo 晨:chen 瑞:rui 志:zhi 兵:bing 雷:lei 东:dong 博:bo 彬:bin 坤:kun 想:xiang "
    "岩:yan 杨:yang 文:wen 利:li 楠:nan 红:hong 霞:xia 芳:fang 娜:na 敏:min 静:jing 秀:xiu "
    "英:ying 丽:li 艳:yan 娟:juan 兰:lan 燕:yan 玲:ling 桂:gui 丹:dan 萍:ping 玉:yu 梅:mei 莉:li "
    "珍:zhen 婷:ting 凤:feng 晶:jing 颖:ying 雪:xue 慧:hui 倩:qian 琴:qin 畅:chang 云:yun 洁:jie "
    "柳:liu 淑:shu 春:chun 海:hai 冬:dong 荣:rong 莹:ying 琳:lin 欣:xin 香:xiang 芝:zhi 小:xiao "
    "金:jin 瑜:yu 花:hua 璐:lu"
)


_SURNAMES: Final = tuple(_SURNAME_PINYIN)


def _romanize_given(given: str) -> str | None:
    syllables = [_GIVEN_PINYIN.get(c) for c in given]
    if any(s is None for s in syllables):
        return None
    return "".join(cast(list[str], syllables)).capitalize()


# --- furnishers -------------------------------------------------------------------------------

# (code, zh, en, seat region, registration authority + organisation type). Bank and utility
# companies are market-registered enterprises (9 1); courts, bureaus and offices are organs
# (1 1); the social-insurance centre is a public institution (1 2).
_BANKS: Final = (
    ("bank-jinqiao-demo", "金桥商业银行（演示）", "Jinqiao Commercial Bank (demo)", "110102"),
    ("bank-xinghe-demo", "星河银行（演示）", "Xinghe Bank (demo)", "310115"),
    (
        "bank-yunshan-demo",
        "云山农村商业银行（演示）",
        "Yunshan Rural Commercial Bank (demo)",
        "510104",
    ),
    (
        "bank-haiyue-demo",
        "海岳城市商业银行（演示）",
        "Haiyue City Commercial Bank (demo)",
        "440304",
    ),
)
_BANK_WEIGHTS: Final = (40, 30, 20, 10)

# Basic people's courts under each demo court furnisher: (case-number court code, name, key).
_COURTS: Final = (
    (
        "court-beijing-demo",
        "北京市高级人民法院（演示）",
        "Beijing High People's Court (demo)",
        "110101",
        (
            ("京0101", "北京市东城区人民法院", "BJ0101"),
            ("京0102", "北京市西城区人民法院", "BJ0102"),
            ("京0105", "北京市朝阳区人民法院", "BJ0105"),
            ("京0108", "北京市海淀区人民法院", "BJ0108"),
        ),
    ),
    (
        "court-shanghai-demo",
        "上海市高级人民法院（演示）",
        "Shanghai High People's Court (demo)",
        "310101",
        (
            ("沪0101", "上海市黄浦区人民法院", "SH0101"),
            ("沪0104", "上海市徐汇区人民法院", "SH0104"),
            ("沪0105", "上海市长宁区人民法院", "SH0105"),
            ("沪0115", "上海市浦东新区人民法院", "SH0115"),
        ),
    ),
)

_TAX_CODE: Final = "tax-bureau-demo"
_REGULATOR_CODE: Final = "market-regulator-demo"
_UTILITY_CODE: Final = "utility-citygroup-demo"
_SOCIAL_CODE: Final = "social-insurance-demo"
_GOVERNMENT_CODE: Final = "gov-credit-office-demo"

_OTHER_FURNISHERS: Final[
    tuple[tuple[str, str, str, str, str, FurnisherKind, tuple[str, ...]], ...]
] = (
    (
        _TAX_CODE,
        "国家税务总局演示税务局",
        "State Taxation Administration, demo tax service",
        "110102",
        "11",
        "tax_authority",
        ("tax_credit_grade", "tax_arrears"),
    ),
    (
        _REGULATOR_CODE,
        "市场监督管理局（演示）",
        "Administration for Market Regulation (demo)",
        "110105",
        "11",
        "market_regulator",
        ("administrative_licence", "administrative_penalty"),
    ),
    (
        _UTILITY_CODE,
        "城市公用事业集团（演示）",
        "City Utilities Group (demo)",
        "330106",
        "91",
        "utility",
        ("utility_arrears",),
    ),
    (
        _SOCIAL_CODE,
        "社会保险事业管理中心（演示）",
        "Social Insurance Administration Centre (demo)",
        "420106",
        "12",
        "social_insurance",
        ("social_insurance_status",),
    ),
    (
        _GOVERNMENT_CODE,
        "社会信用体系建设办公室（演示）",
        "Social Credit System Office (demo)",
        "110101",
        "11",
        "government",
        ("commendation",),
    ),
)

_COURT_RECORD_TYPES: Final = ("court_judgment", "enforcement_case", "dishonest_debtor_listing")


# --- subjects -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Subject:
    kind: Literal["person", "enterprise", "other_organisation"]
    id_type: str
    identifier: str
    name_zh: str
    name_en: str
    region: str
    region_name: str
    risk: float
    born: date  # birth date, or date of establishment for organisations
    male: bool = False
    # Registration authority and organisation type of a USCC ("91" company, "92" individual
    # business, "93" farmers' cooperative, "51".."53" civil-affairs bodies, "12" institution).
    org_type: str = ""


@dataclass(slots=True)
class _Outcome:
    """What a subject's records showed, for the label's dependence on observable behaviour."""

    currently_overdue: bool = False
    severe: bool = False


# Account products: (account_type, loan_kind, weight among a person's accounts).
_PERSON_PRODUCTS: Final = (
    ("credit_card", None, 45),
    ("loan", "consumer", 16),
    ("loan", "mortgage", 12),
    ("loan", "auto", 8),
    ("loan", "revolving", 6),
    ("loan", "student", 4),
    ("loan", "business", 5),
    ("loan", "other", 4),
)


@dataclass(frozen=True, slots=True)
class _Product:
    median_yuan: float
    sigma: float
    low_yuan: int
    high_yuan: int
    round_yuan: int
    terms: tuple[int, int]  # term in months, inclusive range; (0, 0) for cards
    max_age_months: int  # how long ago the account may have opened
    guarantees: tuple[tuple[str, int], ...]
    hazard_offset: float  # added to the delinquency logit: mortgages are paid first


_PRODUCTS: Final[Mapping[str | None, _Product]] = {
    None: _Product(20_000, 0.7, 2_000, 200_000, 1_000, (0, 0), 180, (("unsecured", 1),), 0.2),
    "consumer": _Product(
        50_000, 0.7, 5_000, 300_000, 1_000, (12, 36), 96, (("unsecured", 8), ("guarantee", 2)), 0.4
    ),
    "mortgage": _Product(
        900_000, 0.6, 200_000, 5_000_000, 10_000, (120, 360), 180, (("mortgage", 1),), -0.9
    ),
    "auto": _Product(
        150_000,
        0.5,
        40_000,
        600_000,
        1_000,
        (36, 60),
        120,
        (("mortgage", 3), ("guarantee", 1)),
        -0.2,
    ),
    "revolving": _Product(
        200_000,
        0.6,
        30_000,
        1_000_000,
        10_000,
        (12, 36),
        96,
        (("mortgage", 1), ("unsecured", 1)),
        0.0,
    ),
    "student": _Product(
        30_000, 0.4, 8_000, 80_000, 1_000, (96, 120), 180, (("unsecured", 4), ("guarantee", 1)), 0.3
    ),
    "business": _Product(
        300_000,
        0.8,
        50_000,
        3_000_000,
        10_000,
        (12, 60),
        120,
        (("guarantee", 3), ("mortgage", 3), ("combination", 2), ("pledge", 1)),
        0.3,
    ),
    "other": _Product(
        30_000, 0.8, 3_000, 300_000, 1_000, (6, 36), 96, (("other", 1), ("unsecured", 1)), 0.2
    ),
}
_ENTERPRISE_LOAN: Final = _Product(
    3_000_000,
    1.0,
    300_000,
    100_000_000,
    10_000,
    (12, 60),
    120,
    (("guarantee", 35), ("mortgage", 30), ("pledge", 10), ("combination", 15), ("unsecured", 10)),
    0.0,
)

_TERMINAL_STATUS: Final = {
    "C": "closed",
    "D": "paid_by_guarantor",
    "Z": "settled_with_assets",
    "G": "transferred",
}


@dataclass(slots=True)
class _Account:
    """One simulated credit account: its plan and its month-by-month history."""

    account_type: str
    loan_kind: str | None
    guarantee: str
    limit_cents: int
    open_date: date
    term_months: int
    sim_start: int  # month index of codes[0]
    codes: list[str] = field(default_factory=list)
    overdue: list[int] = field(default_factory=list)  # months overdue at each month end
    utilisation: list[float] = field(default_factory=list)
    close_mi: int | None = None
    close_code: str | None = None  # C, D, Z or G
    close_date: date | None = None
    bad_debt_from: int | None = None

    @property
    def open_mi(self) -> int:
        return _month_index(self.open_date)


# --- batch writers --------------------------------------------------------------------------


class _BatchWriter:
    """Streams rows of one record type to a JSON Lines or CSV file and counts them."""

    def __init__(self, path: Path, fmt: FileFormat, columns: Sequence[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.rows = 0
        self._fmt = fmt
        self._columns = tuple(columns)
        # newline="" so that the CSV module's own line endings are written as they are.
        self._file: IO[str] = path.open("w", encoding="utf-8", newline="")
        self._csv = csv.writer(self._file, lineterminator="\n") if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow(self._columns)

    def write(self, row: Mapping[str, str | int]) -> None:
        if self._csv is not None:
            self._csv.writerow([row.get(c, "") for c in self._columns])
        else:
            self._file.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
            self._file.write("\n")
        self.rows += 1

    def close(self) -> None:
        self._file.close()


# --- the generator --------------------------------------------------------------------------


class _Synthesizer:
    """Holds the random streams, the population and the open writers of one run."""

    # Delinquency: monthly chance of a new overdue run, sigmoid(a + b r + product offset), and
    # monthly chance of curing a running one, sigmoid(c - d r).
    _HAZARD_A: ClassVar[float] = -5.8
    _HAZARD_B: ClassVar[float] = 1.4
    _CURE_C: ClassVar[float] = 1.0
    _CURE_D: ClassVar[float] = 0.8
    # Each further month overdue makes a cure less likely: deep arrears seldom come back.
    _CURE_DEPTH: ClassVar[float] = 0.4
    # Chance per month that an account 4+ months overdue ends: secured accounts by the guarantor
    # (D) or the collateral (Z); unsecured ones more rarely by transfer (G), the rest run on at
    # 7 and become bad debts.
    _TERMINAL_P_SECURED: ClassVar[float] = 0.10
    _TERMINAL_P_UNSECURED: ClassVar[float] = 0.03
    # Label: sigmoid(base + slope r + bumps); bases calibrated for ~8 % persons, ~10 % others.
    _LABEL_BASE: ClassVar[Mapping[str, float]] = {
        "person": -3.40,
        "enterprise": -3.22,
        "other_organisation": -3.22,
    }
    _LABEL_SLOPE: ClassVar[float] = 1.5
    _LABEL_OVERDUE_BUMP: ClassVar[float] = 0.8
    _LABEL_SEVERE_BUMP: ClassVar[float] = 0.6

    def __init__(
        self,
        seed: int,
        out_dir: Path,
        file_format: FileFormat,
        as_of: date,
        corrections: bool,
        layout: _CatalogLayout,
    ) -> None:
        self.seed = seed
        self.out_dir = out_dir
        self.fmt: FileFormat = file_format
        self.as_of = as_of
        self.as_of_mi = _month_index(as_of)
        self.corrections = corrections
        self.layout = layout
        self.rng = random.Random(seed)
        self.fake_zh = Faker("zh_CN")
        self.fake_zh.seed_instance(self.rng.getrandbits(64))
        self.fake_en = Faker("en_US")
        self.fake_en.seed_instance(self.rng.getrandbits(64))
        self.used_uscc: set[str] = set()
        self.used_ids: set[str] = set()
        self.used_org_names: set[str] = set()
        self.serials: dict[str, int] = {}
        self.case_serials: dict[tuple[str, int, str], int] = {}
        self.writers: dict[tuple[str, str, str], _BatchWriter] = {}
        self.file_specs: list[tuple[str, str, str, FileKind]] = []
        self.furnishers: tuple[FurnisherSpec, ...] = ()
        self.banks: tuple[str, ...] = ()
        self.bank_weights: tuple[int, ...] = ()
        self.courts: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = ()
        self.employers: list[_Subject] = []
        self.employer_pool: list[str] = []

    # -- set-up ------------------------------------------------------------------------------

    def _uscc(self, authority_type: str, region: str, new_style: bool) -> str:
        while True:
            if new_style:
                # Codes assigned since the USCC reform (2015) mostly start "MA"; older bodies
                # kept their numeric GB 11714 organisation code.
                base8 = "MA" + "".join(self.rng.choice(USCC_ALPHABET) for _ in range(6))
            else:
                base8 = f"{self.rng.randrange(10**8):08d}"
            code = make_uscc(authority_type[0], authority_type[1], region, base8)
            if code not in self.used_uscc:
                self.used_uscc.add(code)
                return code

    def build_furnishers(self) -> None:
        specs: list[FurnisherSpec] = []
        n_banks = self.rng.choice((3, 4))
        for code, zh, en, region in _BANKS[:n_banks]:
            uscc = self._uscc("91", region, new_style=False)
            specs.append(FurnisherSpec(code, zh, en, uscc, "bank", ("credit_account",)))
        self.banks = tuple(s.code for s in specs)
        self.bank_weights = _BANK_WEIGHTS[:n_banks]
        for code, zh, en, region, authority, kind, types in _OTHER_FURNISHERS[:1]:
            uscc = self._uscc(authority, region, new_style=False)
            specs.append(FurnisherSpec(code, zh, en, uscc, kind, types))
        n_courts = self.rng.choice((1, 2))
        courts = []
        for code, zh, en, region, basic in _COURTS[:n_courts]:
            uscc = self._uscc("11", region, new_style=False)
            specs.append(FurnisherSpec(code, zh, en, uscc, "court", _COURT_RECORD_TYPES))
            courts.append((code, basic))
        self.courts = tuple(courts)
        for code, zh, en, region, authority, kind, types in _OTHER_FURNISHERS[1:]:
            uscc = self._uscc(authority, region, new_style=False)
            specs.append(FurnisherSpec(code, zh, en, uscc, kind, types))
        self.furnishers = tuple(specs)

    def open_writers(self) -> None:
        for spec in self.furnishers:
            for record_type in spec.record_types:
                self._open(spec.code, record_type, "initial")
        if self.corrections:
            for bank in self.banks:
                self._open(bank, "credit_account", "corrections")

    def _open(self, furnisher: str, record_type: str, kind: FileKind) -> None:
        suffix = "" if kind == "initial" else ".corrections"
        rel = f"{furnisher}/{record_type}{suffix}.{self.fmt}"
        columns = (*ENVELOPE_KEYS, *self.layout.fields[record_type])
        self.writers[(furnisher, record_type, kind)] = _BatchWriter(
            self.out_dir / rel, self.fmt, columns
        )
        self.file_specs.append((furnisher, record_type, rel, kind))

    def close_writers(self) -> tuple[BatchFileSpec, ...]:
        specs = []
        for furnisher, record_type, rel, kind in self.file_specs:
            writer = self.writers[(furnisher, record_type, kind)]
            writer.close()
            specs.append(BatchFileSpec(furnisher, record_type, rel, self.fmt, writer.rows, kind))
        return tuple(specs)

    # -- population --------------------------------------------------------------------------

    def _region(self) -> tuple[str, str]:
        return self.rng.choice(REGIONS)

    def _person_name(self, male: bool) -> tuple[str, str]:
        # Redraw the rare surnames and any given name without a pinyin entry, so that the
        # English name always spells the Chinese one.
        for _ in range(50):
            surname = str(self.fake_zh.last_name())
            surname_en = _SURNAME_PINYIN.get(surname)
            if surname_en is not None:
                break
        else:
            surname, surname_en = "王", "Wang"
        for _ in range(50):
            given = str(
                self.fake_zh.first_name_male() if male else self.fake_zh.first_name_female()
            )
            given_en = _romanize_given(given)
            if given_en is not None:
                break
        else:
            given, given_en = ("伟", "Wei") if male else ("芳", "Fang")
        return surname + given, f"{surname_en} {given_en}"

    def build_persons(self, count: int) -> list[_Subject]:
        persons = []
        oldest = _add_years(self.as_of, -76) + timedelta(days=1)
        youngest = _add_years(self.as_of, -18)
        span = (youngest - oldest).days
        for _ in range(count):
            region, region_name = self._region()
            # Ages 18-75, most between 25 and 55.
            offset = int(self.rng.triangular(0, span, span * 0.62))
            born = oldest + timedelta(days=min(max(offset, 0), span))
            male = self.rng.random() < 0.5
            while True:
                # GB 11643: an odd sequence number is a man's.
                sequence = 2 * self.rng.randrange(500) + (1 if male else 0)
                identifier = make_resident_id(region, born, sequence)
                if identifier not in self.used_ids:
                    self.used_ids.add(identifier)
                    break
            name_zh, name_en = self._person_name(male)
            persons.append(
                _Subject(
                    "person",
                    IdentifierType.RESIDENT_ID.value,
                    identifier,
                    name_zh,
                    name_en,
                    region,
                    region_name,
                    self.rng.gauss(0.0, 1.0),
                    born,
                    male=male,
                )
            )
        return persons

    def _unique_org_name(self, make: Callable[[int], tuple[str, str]]) -> tuple[str, str]:
        for attempt in range(100):
            zh, en = make(attempt)
            if zh not in self.used_org_names:
                self.used_org_names.add(zh)
                return zh, en
        # Some kinds have few names (a province's foundations, a city's hospitals): large
        # populations number the repeats, as registries distinguish same-named bodies.
        for serial in count(2):
            numbered_zh, numbered_en = f"{zh}（{serial}）", f"{en} ({serial})"
            if numbered_zh not in self.used_org_names:
                self.used_org_names.add(numbered_zh)
                return numbered_zh, numbered_en
        raise AssertionError("unreachable")  # pragma: no cover

    def _company_name(self, region: str, region_name: str, org_type: str) -> tuple[str, str]:
        city, county = _city_short(region_name), _county(region_name)
        surname_zh = self.rng.choice(_SURNAMES)

        def company(attempt: int) -> tuple[str, str]:
            # Faker's zh_CN company names repeat often; a city prefix, as most real names
            # carry, makes them distinct.
            prefix = city if attempt > 0 or self.rng.random() < 0.5 else ""
            return prefix + str(self.fake_zh.company()), str(self.fake_en.company())

        def business(attempt: int) -> tuple[str, str]:
            shop_zh, shop_en = self.rng.choice(_SHOPS)
            sur = surname_zh if attempt == 0 else self.rng.choice(_SURNAMES)
            return f"{county}{sur}记{shop_zh}", f"{_SURNAME_PINYIN[sur]}'s {shop_en}"

        def cooperative(attempt: int) -> tuple[str, str]:
            word_zh, word_en = self.rng.choice(_COOP_WORDS)
            crop_zh, crop_en = self.rng.choice(_CROPS)
            return (
                f"{county}{word_zh}{crop_zh}专业合作社",
                f"{word_en} {crop_en} Farmers' Cooperative ({_province(region)[1]})",
            )

        def social_group(attempt: int) -> tuple[str, str]:
            trade_zh, trade_en = self.rng.choice(_TRADES)
            prov_zh, prov_en = _province(region)
            place_zh = prov_zh if attempt == 0 else city + "市"
            return f"{place_zh}{trade_zh}协会", f"{prov_en} {trade_en} Association"

        def non_enterprise(attempt: int) -> tuple[str, str]:
            word_zh, word_en = self.rng.choice(_SCHOOL_WORDS)
            return (
                f"{city}市{word_zh}职业培训学校",
                f"{word_en} Vocational Training School, {_province(region)[1]}",
            )

        def foundation(attempt: int) -> tuple[str, str]:
            word_zh, word_en = self.rng.choice(_SCHOOL_WORDS)
            prov_zh, prov_en = _province(region)
            return f"{prov_zh}{word_zh}慈善基金会", f"{prov_en} {word_en} Charity Foundation"

        def institution(attempt: int) -> tuple[str, str]:
            number = self.rng.randint(1, 9)
            return (
                f"{city}市第{_ZH_NUMERALS[number]}人民医院",
                f"No. {number} People's Hospital, {_province(region)[1]}",
            )

        makers = {
            "91": company,
            "92": business,
            "93": cooperative,
            "51": social_group,
            "52": non_enterprise,
            "53": foundation,
            "12": institution,
        }
        return self._unique_org_name(makers[org_type])

    def build_enterprises(self, count: int) -> list[_Subject]:
        enterprises = []
        for _ in range(count):
            region, region_name = self._region()
            draw = self.rng.random()
            # About 5 % other organisations: civil-affairs bodies (5x) and institutions (12).
            if draw < 0.05:
                org_type = self.rng.choice(("51", "52", "53", "12"))
                kind: Literal["enterprise", "other_organisation"] = "other_organisation"
            else:
                org_type = self.rng.choices(("91", "92", "93"), (85, 12, 3))[0]
                kind = "enterprise"
            age_days = min(int(self.rng.expovariate(1 / (8 * 365.25))), 30 * 365)
            established = self.as_of - timedelta(days=age_days)
            uscc = self._uscc(org_type, region, new_style=established >= date(2015, 10, 1))
            name_zh, name_en = self._company_name(region, region_name, org_type)
            enterprises.append(
                _Subject(
                    kind,
                    IdentifierType.USCC.value,
                    uscc,
                    name_zh,
                    name_en,
                    region,
                    region_name,
                    self.rng.gauss(0.0, 1.0),
                    established,
                    org_type=org_type,
                )
            )
        # Employers of the persons' social insurance: real companies of the population when
        # there are any, otherwise a fixed pool of Faker names.
        self.employers = [e for e in enterprises if e.org_type == "91"]
        if not self.employers:
            self.employer_pool = [str(self.fake_zh.company()) for _ in range(50)]
        return enterprises

    # -- emitting rows ------------------------------------------------------------------------

    def _next_serial(self, scope: str) -> int:
        value = self.serials.get(scope, 0) + 1
        self.serials[scope] = value
        return value

    def _row(
        self,
        record_type: str,
        record_key: str,
        subject: _Subject,
        valid_from: date,
        fields: Mapping[str, str | int | None],
        *,
        action: str = "upsert",
        reason: str | None = None,
    ) -> dict[str, str | int]:
        unknown = fields.keys() - self.layout.field_sets[record_type]
        if unknown:  # a catalog rename must fail loudly, not write a silently dropped column
            raise RuntimeError(f"{record_type} has no fields {sorted(unknown)}")
        row: dict[str, str | int] = {
            "record_type": record_type,
            "record_key": record_key,
            "subject_id_type": subject.id_type,
            "subject_identifier": subject.identifier,
            "subject_name": subject.name_zh,
            "subject_name_en": subject.name_en,
            "valid_from": valid_from.isoformat(),
            "action": action,
        }
        if reason is not None:
            row["reason"] = reason
        for name in self.layout.fields[record_type]:
            value = fields.get(name)
            if value is not None:
                row[name] = value
        return row

    def _emit(
        self,
        furnisher: str,
        record_type: str,
        record_key: str,
        subject: _Subject,
        valid_from: date,
        fields: Mapping[str, str | int | None],
    ) -> None:
        row = self._row(record_type, record_key, subject, valid_from, fields)
        self.writers[(furnisher, record_type, "initial")].write(row)

    def _date_between(self, low: date, high: date) -> date:
        if high <= low:
            return low
        return low + timedelta(days=self.rng.randrange((high - low).days + 1))

    def _lognormal_cents(self, product: _Product) -> int:
        yuan = product.median_yuan * math.exp(self.rng.gauss(0.0, product.sigma))
        yuan = min(max(yuan, product.low_yuan), product.high_yuan)
        rounded = max(round(yuan / product.round_yuan), 1) * product.round_yuan
        return int(rounded) * 100

    # -- credit accounts ----------------------------------------------------------------------

    def _plan_account(
        self, subject: _Subject, account_type: str, loan_kind: str | None, product: _Product
    ) -> _Account | None:
        eligible = subject.born if subject.kind != "person" else _add_years(subject.born, 18)
        if loan_kind == "student":
            # Student loans open at university age (18-22).
            low, high = eligible, min(_add_years(subject.born, 22), self.as_of)
        else:
            low = max(eligible, _add_months(self.as_of, -product.max_age_months))
            high = self.as_of
        if high < low:
            return None
        term = self.rng.randint(*product.terms) if product.terms[1] else 0
        if loan_kind == "mortgage":
            term = self.rng.choice((120, 180, 240, 300, 360))
        # One month before the grid starts: the corrections file reports some accounts a
        # month late, and their first report then covers that month.
        window_start = self.as_of_mi - _GRID_MONTHS
        if term:
            # A loan that ended before the grid would show 60 months of "C": PBoC reports only
            # show accounts closed within five years, so open such loans later.
            low = max(low, _month_start(window_start - term + 1))
            if high < low:
                return None
        open_date = self._date_between(low, high)
        open_mi = _month_index(open_date)
        planned_close: int | None = None
        if term:
            planned_close = open_mi + term
            if self.rng.random() < 0.2:  # early repayment
                first = max(open_mi + 6, window_start)
                last = min(planned_close, self.as_of_mi)
                if first <= last:
                    planned_close = self.rng.randint(first, last)
        elif self.rng.random() < 0.1:  # a card cancelled by its holder
            first = max(open_mi + 6, window_start)
            if first <= self.as_of_mi:
                planned_close = self.rng.randint(first, self.as_of_mi)
        guarantees, weights = zip(*product.guarantees, strict=True)
        account = _Account(
            account_type=account_type,
            loan_kind=loan_kind,
            guarantee=self.rng.choices(guarantees, weights)[0],
            limit_cents=self._lognormal_cents(product),
            open_date=open_date,
            term_months=term,
            sim_start=max(open_mi, window_start),
        )
        self._simulate(account, subject.risk, product.hazard_offset, planned_close)
        return account

    def _simulate(
        self, account: _Account, risk: float, offset: float, planned_close: int | None
    ) -> None:
        """Walk the account month by month from ``sim_start`` to the month of ``as_of``.

        An overdue run grows 1, 2, 3 … (capped at 7) until cured back to N; an account 4+
        months overdue may end by a guarantor (D), with its collateral (Z) or by transfer
        (G); a run stuck at 7 for six months makes a bad debt. Months before simulation are
        taken as normal: only the 61 months the two snapshots need are simulated.
        """
        rng = self.rng
        hazard = _sigmoid(self._HAZARD_A + self._HAZARD_B * risk + offset)
        cure = [
            _sigmoid(self._CURE_C - self._CURE_D * risk - self._CURE_DEPTH * (depth - 1))
            for depth in range(8)
        ]
        open_mi = account.open_mi
        revolving = account.account_type == "credit_card" or account.loan_kind == "revolving"
        utilisation = min(max(_sigmoid(-0.8 + 0.7 * risk + rng.gauss(0.0, 0.8)), 0.0), 1.0)
        cap = 1.05 if risk > 1.5 else 1.0  # only risky holders run over their limit
        k = 0
        run_at_seven = 0
        for mi in range(account.sim_start, self.as_of_mi + 1):
            if account.close_mi is not None:
                account.codes.append("C")
                account.overdue.append(0)
                account.utilisation.append(0.0)
                continue
            if mi > open_mi:
                if k == 0:
                    k = 1 if rng.random() < hazard else 0
                elif rng.random() < cure[k]:
                    k = 0
                else:
                    k = min(k + 1, 7)
            code = "N" if k == 0 else str(k)
            terminal = self._terminal_code(account.guarantee) if k >= 4 else None
            if terminal is not None:
                code = terminal
                self._close(account, mi, code)
                k = 0
            elif k == 0 and planned_close is not None and mi >= planned_close:
                code = "C"
                self._close(account, mi, code)
            run_at_seven = run_at_seven + 1 if k == 7 else 0
            if run_at_seven >= 6 and account.bad_debt_from is None:
                account.bad_debt_from = mi
            elif k == 0:
                account.bad_debt_from = None
            if revolving:
                utilisation = min(max(utilisation + rng.gauss(0.0, 0.05), 0.0), cap)
                if k:  # an overdue card is never empty
                    utilisation = max(utilisation, 0.1)
            account.codes.append(code)
            account.overdue.append(k)
            account.utilisation.append(utilisation if account.close_mi is None else 0.0)

    def _terminal_code(self, guarantee: str) -> str | None:
        """This month's end of a seriously overdue account (D, Z or G), or ``None``."""
        if guarantee in ("unsecured", "other"):
            return "G" if self.rng.random() < self._TERMINAL_P_UNSECURED else None
        if self.rng.random() >= self._TERMINAL_P_SECURED:
            return None
        if guarantee == "guarantee":
            return "D"
        if guarantee == "combination":
            return self.rng.choice("DZ")
        return "Z" if self.rng.random() < 0.8 else "G"

    def _close(self, account: _Account, mi: int, code: str) -> None:
        account.close_mi = mi
        account.close_code = code
        last = self.as_of if mi == self.as_of_mi else _month_end(mi)
        account.close_date = self._date_between(max(_month_start(mi), account.open_date), last)

    def _account_fields(self, account: _Account, end_mi: int) -> tuple[date, dict[str, Any]]:
        """The account's row as reported for the month ``end_mi`` (its info date, fields)."""
        info_date = self.as_of if end_mi == self.as_of_mi else _month_end(end_mi)
        i = end_mi - account.sim_start
        open_mi, start = account.open_mi, account.sim_start
        grid = "".join(
            "#" if mi < open_mi else account.codes[mi - start]
            for mi in range(end_mi - _GRID_MONTHS + 1, end_mi + 1)
        )
        closed = account.close_mi is not None and account.close_mi <= end_mi
        k = 0 if closed else account.overdue[i]
        limit = account.limit_cents
        if closed:
            status = _TERMINAL_STATUS[cast(str, account.close_code)]
            balance = overdue_cents = 0
        else:
            if account.account_type == "credit_card" or account.loan_kind == "revolving":
                balance = int(limit * account.utilisation[i]) // 100 * 100
                # A missed minimum payment (10 % of the balance) per month overdue.
                overdue_cents = min(balance, max(balance // 10, 10_000) * k) if k else 0
            else:
                elapsed = end_mi - account.open_mi
                installment = limit // account.term_months
                scheduled = limit * max(account.term_months - elapsed, 0) // account.term_months
                overdue_cents = installment * k
                balance = min(limit, scheduled + overdue_cents)
                overdue_cents = min(overdue_cents, balance)
            if account.bad_debt_from is not None and account.bad_debt_from <= end_mi:
                status = "bad_debt"
                overdue_cents = balance
            else:
                status = "overdue" if k else "normal"
        due_date = (
            _add_months(account.open_date, account.term_months) if account.term_months else None
        )
        fields: dict[str, Any] = {
            "account_type": account.account_type,
            "loan_kind": account.loan_kind,
            "currency": "CNY",
            "credit_limit": _amount(limit),
            "balance": _amount(balance),
            "overdue_amount": _amount(overdue_cents),
            "overdue_months": None if closed else k,
            "open_date": account.open_date.isoformat(),
            "due_date": _iso(due_date) if due_date is not None and due_date <= info_date else None,
            "close_date": _iso(account.close_date) if closed else None,
            "guarantee_type": account.guarantee,
            "status": status,
            "grid_end_month": _month_text(end_mi),
            "repayment_grid": grid,
            "info_date": info_date.isoformat(),
        }
        return info_date, fields

    def _credit_accounts(self, subject: _Subject, outcome: _Outcome) -> None:
        if subject.kind == "person":
            count = self.rng.choices(range(7), (15, 20, 22, 18, 12, 8, 5))[0]
        elif subject.org_type == "91":
            count = self.rng.choices(range(5), (25, 30, 22, 15, 8))[0]
        elif subject.org_type in ("92", "93"):
            count = self.rng.choices(range(3), (40, 40, 20))[0]
        else:
            count = self.rng.choices(range(2), (60, 40))[0]
        age_years = (self.as_of - subject.born).days / 365.25
        for _ in range(count):
            if subject.kind == "person":
                account_type, loan_kind, _w = self.rng.choices(
                    _PERSON_PRODUCTS, [p[2] for p in _PERSON_PRODUCTS]
                )[0]
                if (loan_kind == "student" and age_years > 35) or (
                    loan_kind == "mortgage" and age_years < 23
                ):
                    account_type, loan_kind = "credit_card", None
                product = _PRODUCTS[loan_kind]
            else:
                account_type = "loan"
                loan_kind = "business" if subject.kind == "enterprise" else "other"
                product = _ENTERPRISE_LOAN
            account = self._plan_account(subject, account_type, loan_kind, product)
            if account is None:
                continue
            self._report_account(subject, account, outcome)

    def _report_account(self, subject: _Subject, account: _Account, outcome: _Outcome) -> None:
        bank = self.rng.choices(self.banks, self.bank_weights)[0]
        prefix = "CC" if account.account_type == "credit_card" else "LN"
        # One serial across banks keeps keys unique platform-wide, not only per furnisher.
        key = f"{prefix}{account.open_date:%Y%m}{self._next_serial('credit_account'):08d}"
        info_date, fields = self._account_fields(account, self.as_of_mi)
        if fields["overdue_months"]:
            outcome.currently_overdue = True
        if fields["status"] in (
            "bad_debt",
            "paid_by_guarantor",
            "settled_with_assets",
            "transferred",
        ):
            outcome.severe = True
        initial_date, initial_fields = info_date, fields
        correction: dict[str, str | int] | None = None
        # Drawn even without corrections, so that switching them off changes nothing else.
        draw = self.rng.random()
        if self.corrections:
            open_last_month = account.open_mi < self.as_of_mi and (
                account.close_mi is None or account.close_mi >= self.as_of_mi
            )
            if draw < 0.025 and open_last_month:
                # The furnisher first reported last month's state; the corrections file brings
                # it up to date, so after both files every grid ends at the month of as_of.
                initial_date, initial_fields = self._account_fields(account, self.as_of_mi - 1)
                correction = self._row(
                    "credit_account", key, subject, info_date, fields, reason="monthly update"
                )
            elif draw > 0.996:
                correction = self._row(
                    "credit_account",
                    key,
                    subject,
                    info_date,
                    fields,
                    action="delete",
                    reason="reported in error",
                )
        self._emit(bank, "credit_account", key, subject, initial_date, initial_fields)
        if correction is not None:
            self.writers[(bank, "credit_account", "corrections")].write(correction)

    # -- tax -----------------------------------------------------------------------------------

    def _tax_authority(self, subject: _Subject) -> str:
        return f"国家税务总局{subject.region_name}税务局"

    def _tax_arrears(self, subject: _Subject, outcome: _Outcome) -> int | None:
        """Write tax arrears; return the year of any still unpaid (it caps the tax grade)."""
        if subject.kind == "person":
            chance = _sigmoid(-6.5 + 1.5 * subject.risk)
            types: tuple[tuple[str, int], ...] = (("individual_income", 3), ("property", 1))
            scale = 20_000.0
        else:
            chance = _sigmoid(-3.4 + 1.4 * subject.risk)
            types = (
                ("vat", 45),
                ("corporate_income", 25),
                ("stamp", 10),
                ("property", 10),
                ("consumption", 3),
                ("other", 7),
            )
            scale = 200_000.0
        if self.rng.random() >= chance:
            return None
        unpaid_year: int | None = None
        for _ in range(self.rng.choices((1, 2, 3), (70, 22, 8))[0]):
            low = max(subject.born, self.as_of - timedelta(days=3 * 365))
            since = self._date_between(low, self.as_of)
            paid: date | None = None
            if self.rng.random() < _sigmoid(0.8 - subject.risk):
                paid = self._date_between(
                    since + timedelta(days=15), self.as_of + timedelta(days=200)
                )
                if paid > self.as_of:
                    paid = None
            if paid is None:
                outcome.severe = True
                unpaid_year = since.year if unpaid_year is None else min(unpaid_year, since.year)
            names, weights = zip(*types, strict=True)
            cents = int(scale * math.exp(self.rng.gauss(0.0, 1.1)) * 100)
            self._emit(
                _TAX_CODE,
                "tax_arrears",
                f"TA{self._next_serial(_TAX_CODE + ':ta'):09d}",
                subject,
                paid or since,
                {
                    "tax_type": self.rng.choices(names, weights)[0],
                    "amount": _amount(max(cents, 10_000)),
                    "since_date": since.isoformat(),
                    "paid_date": _iso(paid),
                    "authority": self._tax_authority(subject),
                },
            )
        return unpaid_year

    def _tax_grades(self, subject: _Subject, unpaid_year: int | None) -> None:
        if subject.kind == "other_organisation" and self.rng.random() < 0.5:
            return  # not every civil-affairs body or institution is a graded taxpayer
        # Grades for year Y are published in April of Y+1 (纳税信用管理办法, 2014年第40号公告).
        last = (
            self.as_of.year - 1
            if self.as_of >= date(self.as_of.year, 4, 30)
            else self.as_of.year - 2
        )
        drift = 0.0
        for year in range(last - 2, last + 1):
            if subject.born > date(year, 12, 31):
                continue
            published = date(year + 1, 4, 30)
            drift += self.rng.gauss(0.0, 0.3)
            score: int | None
            if subject.born.year >= year or (
                subject.born.year == year - 1 and self.rng.random() < 0.3
            ):
                # 纳税信用管理办法: newly established taxpayers are graded M (RULES.md 20).
                grade, score = "M", None
            else:
                value = 82.0 - 14.0 * (subject.risk + drift) + self.rng.gauss(0.0, 6.0)
                score = int(min(max(round(value), 0), 100))
                if unpaid_year is not None and unpaid_year <= year:
                    score = min(score, 69)  # unpaid arrears in the year: at best C
                # RULES.md 20: A >= 90, B 70-90, C 40-70, D < 40.
                grade = "A" if score >= 90 else "B" if score >= 70 else "C" if score >= 40 else "D"
            self._emit(
                _TAX_CODE,
                "tax_credit_grade",
                f"TCG{year}{self._next_serial(_TAX_CODE + ':tcg'):09d}",
                subject,
                published,
                {
                    "tax_year": str(year),
                    "grade": grade,
                    "score": score,
                    "authority": self._tax_authority(subject),
                },
            )

    # -- courts --------------------------------------------------------------------------------

    def _case_serial(self, court: str, year: int, kind: str) -> int:
        key = (court, year, kind)
        current = self.case_serials.get(key)
        if current is None:
            current = self.rng.randint(100, 3000)  # cases filed before ours this year
        current += self.rng.randint(1, 40)
        self.case_serials[key] = current
        return current

    def _court_records(self, subject: _Subject, outcome: _Outcome) -> None:
        if subject.kind == "person":
            against = _sigmoid(-6.0 + 1.7 * subject.risk)
            scale = 60_000.0
            causes: tuple[str, ...] = _PERSON_CAUSES
        else:
            against = _sigmoid(-4.0 + 1.4 * subject.risk)
            scale = 600_000.0
            causes = _ENTERPRISE_CAUSES
        cases: list[str] = []
        if self.rng.random() < against:
            cases.extend(["defendant"] * self.rng.choices((1, 2, 3), (75, 18, 7))[0])
        if self.rng.random() < 0.004:  # subjects win lawsuits too
            cases.append("plaintiff")
        earliest = max(
            subject.born if subject.kind != "person" else _add_years(subject.born, 18),
            _add_years(self.as_of, -5),
        )
        for role in cases:
            furnisher, basic_courts = self.rng.choice(self.courts)
            court_code, court_name, court_key = self.rng.choice(basic_courts)
            judged = self._date_between(earliest, self.as_of)
            effective = judged + timedelta(days=self.rng.randint(15, 45))
            amount = max(int(scale * math.exp(self.rng.gauss(0.0, 1.0)) * 100), 100_000)
            if role == "plaintiff":
                result = "judgment_for"
            else:
                result = self.rng.choices(
                    ("judgment_against", "settled", "withdrawn", "other"), (70, 20, 6, 4)
                )[0]
            serial = self._case_serial(court_code, judged.year, "民初")
            self._emit(
                furnisher,
                "court_judgment",
                f"CJ-{court_key}-{judged.year}-{serial}",
                subject,
                effective if effective <= self.as_of else judged,
                {
                    "case_number": f"（{judged.year}）{court_code}民初{serial}号",
                    "court": court_name,
                    "cause": self.rng.choice(causes),
                    "role": role,
                    "judgment_date": judged.isoformat(),
                    "effective_date": _iso(effective) if effective <= self.as_of else None,
                    "amount": _amount(amount),
                    "outcome": result,
                },
            )
            if result == "judgment_against" and self.rng.random() < _sigmoid(-0.3 + subject.risk):
                self._enforcement(
                    subject,
                    furnisher,
                    court_code,
                    court_name,
                    court_key,
                    effective,
                    amount,
                    outcome,
                )

    def _enforcement(
        self,
        subject: _Subject,
        furnisher: str,
        court_code: str,
        court_name: str,
        court_key: str,
        effective: date,
        amount: int,
        outcome: _Outcome,
    ) -> None:
        filed = effective + timedelta(days=self.rng.randint(30, 365))
        if filed > self.as_of:
            return
        serial = self._case_serial(court_code, filed.year, "执")
        case_number = f"（{filed.year}）{court_code}执{serial}号"
        due = amount + amount * self.rng.randint(0, 15) // 100  # plus interest and costs
        # Riskier debtors leave more cases open; the weights stay positive for any risk.
        status = self.rng.choices(
            ("open", "closed_performed", "terminated", "suspended"),
            (max(35 + 15 * subject.risk, 5), max(45 - 10 * subject.risk, 5), 15, 5),
        )[0]
        closed = None
        performed: int | None = None
        if status in ("closed_performed", "terminated"):
            closed = self._date_between(filed + timedelta(days=30), self.as_of)
            performed = (
                due if status == "closed_performed" else due * self.rng.randint(0, 60) // 100
            )
        elif self.rng.random() < 0.4:
            performed = due * self.rng.randint(5, 50) // 100
        if status in ("open", "suspended"):
            outcome.severe = True
        self._emit(
            furnisher,
            "enforcement_case",
            f"EC-{court_key}-{filed.year}-{serial}",
            subject,
            closed or filed,
            {
                "case_number": case_number,
                "court": court_name,
                "filed_date": filed.isoformat(),
                "amount_due": _amount(due),
                "amount_performed": None if performed is None else _amount(performed),
                "status": status,
                "closed_date": _iso(closed),
            },
        )
        # Listing (法释〔2017〕7号 Art. 1) follows an enforcement case the debtor does not
        # perform; the listing carries the enforcement case number.
        if status == "closed_performed" and closed is not None:
            list_chance = 0.15
        elif status in ("open", "suspended"):
            list_chance = _sigmoid(-0.5 + subject.risk)
        else:
            list_chance = 0.3
        if self.rng.random() >= list_chance:
            return
        listed = filed + timedelta(days=self.rng.randint(30, 240))
        if closed is not None:
            listed = min(listed, closed)
        if listed > self.as_of:
            return
        ground = self.rng.choices(
            (
                "able_but_refuses",
                "evades_enforcement",
                "false_asset_report",
                "obstructs_enforcement",
                "breaches_spending_ban",
                "breaches_settlement",
            ),
            (50, 20, 10, 8, 7, 5),
        )[0]
        # RULES.md 18: a two-year term, except "able but refuses", which lasts until performed.
        term_end = None if ground == "able_but_refuses" else _add_years(listed, 2)
        removal: date | None = None
        removal_reason: str | None = None
        if status == "closed_performed" and closed is not None:
            removal, removal_reason = closed, "performed"
        elif term_end is not None and term_end <= self.as_of:
            removal, removal_reason = term_end, "term_expired"
        if removal is None:
            outcome.severe = True
        performance = (
            "performed"
            if removal_reason == "performed"
            else "partially_performed"
            if performed
            else "not_performed"
        )
        self._emit(
            furnisher,
            "dishonest_debtor_listing",
            f"DL-{court_key}-{filed.year}-{serial}",
            subject,
            removal or listed,
            {
                "case_number": case_number,
                "court": court_name,
                "ground": ground,
                "obligation": f"支付款项人民币{_amount(due)}元及迟延履行期间的债务利息",
                "performance": performance,
                "listing_date": listed.isoformat(),
                "term_end_date": _iso(term_end)
                if term_end is not None and term_end <= self.as_of
                else None,
                "removal_date": _iso(removal),
                "removal_reason": removal_reason,
            },
        )

    # -- market regulation ---------------------------------------------------------------------

    def _regulator(self, subject: _Subject) -> str:
        return f"{subject.region_name}市场监督管理局"

    def _decision_number(self, subject: _Subject, word: str, year: int) -> str:
        # 文号 such as 东城市监处罚〔2025〕1234号: the issuing district, the kind, year, serial.
        serial = self._case_serial(subject.region, year, word)
        place = _county(subject.region_name)[:-1] or _city_short(subject.region_name)
        return f"{place}{word}〔{year}〕{serial}号"

    def _licences(self, subject: _Subject) -> None:
        if subject.kind != "enterprise" or self.rng.random() >= 0.85:
            return
        count = self.rng.choices((1, 2, 3), (60, 30, 10))[0]
        for name, category, content in self.rng.sample(_LICENCES, count):
            decided = self._date_between(subject.born, self.as_of)
            valid_until = _add_years(decided, 5)
            status = "expired" if valid_until <= self.as_of else "valid"
            if status == "valid" and self.rng.random() < _sigmoid(-5.0 + 1.2 * subject.risk):
                status = "revoked"
            elif status == "valid" and self.rng.random() < 0.01:
                status = "cancelled"
            self._emit(
                _REGULATOR_CODE,
                "administrative_licence",
                f"AL{self._next_serial(_REGULATOR_CODE + ':al'):09d}",
                subject,
                valid_until if status == "expired" else decided,
                {
                    "decision_number": self._decision_number(subject, "市监许", decided.year),
                    "licence_name": name,
                    "licence_category": category,
                    "content": content,
                    "authority": self._regulator(subject),
                    "decision_date": decided.isoformat(),
                    "valid_until": _iso(valid_until) if valid_until <= self.as_of else None,
                    "status": status,
                },
            )

    def _penalties(self, subject: _Subject, outcome: _Outcome) -> None:
        if subject.kind == "person":
            chance = _sigmoid(-6.5 + 1.2 * subject.risk)
        else:
            chance = _sigmoid(-2.8 + 1.2 * subject.risk)
        if self.rng.random() >= chance:
            return
        for _ in range(self.rng.choices((1, 2), (80, 20))[0]):
            tilt = math.exp(0.5 * subject.risk)
            # Persons (individual traders) are mostly fined for small breaches, and less.
            serious = 13 * tilt if subject.kind != "person" else 3 * tilt
            severity = self.rng.choices(("minor", "general", "serious"), (45 / tilt, 42, serious))[
                0
            ]
            penalty, low, high = self.rng.choice(_PENALTIES[severity])
            fine = None
            # Of the penalty kinds of 行政处罚法 Art. 9, only fines and confiscation carry a
            # fine amount here; a warning never does.
            if low:
                yuan = math.exp(self.rng.uniform(math.log(low), math.log(high)))
                if subject.kind == "person":
                    yuan = max(yuan / 10, 200)
                fine = _amount(int(yuan) * 100)
            earliest = max(subject.born, _add_years(self.as_of, -4))
            if subject.kind == "person":
                earliest = max(earliest, _add_years(subject.born, 18))
            decided = self._date_between(earliest, self.as_of)
            performed: date | None = None
            if penalty == "warning":
                performed = decided
            elif self.rng.random() < _sigmoid(1.5 - subject.risk):
                performed = decided + timedelta(days=self.rng.randint(5, 90))
                if performed > self.as_of:
                    performed = None
            if severity == "serious" or performed is None:
                outcome.severe = True
            self._emit(
                _REGULATOR_CODE,
                "administrative_penalty",
                f"AP{self._next_serial(_REGULATOR_CODE + ':ap'):09d}",
                subject,
                performed or decided,
                {
                    "decision_number": self._decision_number(subject, "市监处罚", decided.year),
                    "violation_type": self.rng.choice(_VIOLATIONS[severity]),
                    "penalty_type": penalty,
                    "fine_amount": fine,
                    "severity": severity,
                    "authority": self._regulator(subject),
                    "decision_date": decided.isoformat(),
                    "performed_date": _iso(performed),
                },
            )

    # -- utilities, social insurance, commendations --------------------------------------------

    def _utility_arrears(self, subject: _Subject, outcome: _Outcome) -> None:
        if subject.kind == "person":
            chance = _sigmoid(-4.6 + 1.3 * subject.risk)
            utilities: tuple[str, ...] = ("water", "electricity", "gas", "heating", "telecom")
            monthly = 150.0
        else:
            chance = _sigmoid(-4.0 + 1.1 * subject.risk)
            utilities = ("electricity", "water", "gas")
            monthly = 8_000.0
        if self.rng.random() >= chance:
            return
        since = self._date_between(max(subject.born, _add_years(self.as_of, -3)), self.as_of)
        elapsed = max(_month_index(self.as_of) - _month_index(since), 0) + 1
        paid: date | None = None
        if self.rng.random() < _sigmoid(0.5 - subject.risk):
            months = self.rng.randint(1, min(elapsed, 12))
            paid = min(_add_months(since, months), self.as_of)
        else:
            months = elapsed
            outcome.severe = True
        bill = monthly * math.exp(self.rng.gauss(0.0, 0.5))
        self._emit(
            _UTILITY_CODE,
            "utility_arrears",
            f"UA{self._next_serial(_UTILITY_CODE):09d}",
            subject,
            paid or self.as_of,
            {
                "utility": self.rng.choice(utilities),
                "amount": _amount(max(int(bill * months * 100), 100)),
                "months_overdue": min(max(months, 1), 120),
                "since_date": since.isoformat(),
                "paid_date": _iso(paid),
            },
        )

    def _social_insurance(self, subject: _Subject, outcome: _Outcome) -> None:
        rng = self.rng
        if subject.kind == "person":
            age = (self.as_of - subject.born).days / 365.25
            retirement = 60 if subject.male else 55
            start = max(_month_index(_add_years(subject.born, rng.randint(18, 26))), 1995 * 12)
            if age >= retirement:
                if rng.random() >= 0.7:
                    return
                status = "terminated"
                through = min(_month_index(_add_years(subject.born, retirement)), self.as_of_mi)
                payer = None
            elif rng.random() < _sigmoid(1.8 - 0.6 * subject.risk):
                employer = rng.choice(self.employers) if self.employers else None
                payer = employer.name_zh if employer else rng.choice(self.employer_pool)
                employer_risk = employer.risk if employer else subject.risk
                # Contributions fall into arrears when the employer stops paying them.
                if rng.random() < _sigmoid(-4.0 + 1.2 * employer_risk + 0.4 * subject.risk):
                    status = "in_arrears"
                    through = self.as_of_mi - rng.randint(1, 8)
                else:
                    status, through = "paying", self.as_of_mi
            elif rng.random() < 0.6:
                status, payer = "suspended", None
                through = self.as_of_mi - rng.randint(3, 36)
            else:
                return
        else:
            if subject.org_type != "91" or rng.random() >= 0.7:
                return
            start = max(_month_index(subject.born), 1995 * 12)
            payer = None
            if rng.random() < _sigmoid(-3.0 + 1.3 * subject.risk):
                status, through = "in_arrears", self.as_of_mi - rng.randint(1, 12)
            else:
                status, through = "paying", self.as_of_mi
        through = max(through, start)
        if through > self.as_of_mi:  # insured too recently: nothing to report yet
            return
        arrears = self.as_of_mi - through if status == "in_arrears" else 0
        if status == "in_arrears" and arrears == 0:
            status = "paying"
        if status == "in_arrears":
            outcome.severe = outcome.severe or arrears >= 3
        base = None
        if status in ("paying", "in_arrears"):
            median = 9_000.0 if subject.kind == "person" else 400_000.0
            cents = int(median * math.exp(rng.gauss(-0.15 * subject.risk, 0.45)) * 100)
            base = _amount(cents // 100 * 100)
        if status in ("paying", "in_arrears"):
            valid_from = self.as_of
        else:
            valid_from = min(_month_start(through + 1), self.as_of)
        self._emit(
            _SOCIAL_CODE,
            "social_insurance_status",
            f"SI{self._next_serial(_SOCIAL_CODE):09d}",
            subject,
            valid_from,
            {
                "insurance_type": "pension",
                "payer_name": payer,
                "status": status,
                "contribution_base": base,
                "first_paid_month": _month_text(start),
                "paid_through_month": _month_text(through),
                "months_in_arrears": arrears,
            },
        )

    def _commendations(self, subject: _Subject) -> None:
        if subject.kind == "person":
            if subject.risk >= -0.5 or self.rng.random() >= 0.012:
                return
            title, level, body, years = self.rng.choice(_PERSON_HONOURS)
            earliest = max(_add_years(subject.born, 18), _add_years(self.as_of, -5))
        else:
            if subject.risk >= -0.8 or self.rng.random() >= 0.08:
                return
            title, level, body, years = self.rng.choice(_ENTERPRISE_HONOURS)
            earliest = max(subject.born, _add_years(self.as_of, -5))
        awarded = self._date_between(earliest, self.as_of)
        city = _city_short(subject.region_name)
        body = body.format(province=_province(subject.region)[0], city=city)
        valid_until = _add_years(awarded, years) if years else None
        self._emit(
            _GOVERNMENT_CODE,
            "commendation",
            f"CM{self._next_serial(_GOVERNMENT_CODE):09d}",
            subject,
            awarded,
            {
                "title": title,
                "awarding_body": body,
                "level": level,
                "award_date": awarded.isoformat(),
                "valid_until": (
                    _iso(valid_until) if valid_until and valid_until <= self.as_of else None
                ),
            },
        )

    # -- per subject ---------------------------------------------------------------------------

    def subject_records(self, subject: _Subject) -> int:
        """Write every record about ``subject`` and return its 12-month default label."""
        outcome = _Outcome()
        self._credit_accounts(subject, outcome)
        unpaid_year = self._tax_arrears(subject, outcome)
        if subject.kind != "person":
            self._tax_grades(subject, unpaid_year)
        self._court_records(subject, outcome)
        self._licences(subject)
        self._penalties(subject, outcome)
        self._utility_arrears(subject, outcome)
        self._social_insurance(subject, outcome)
        self._commendations(subject)
        logit = (
            self._LABEL_BASE[subject.kind]
            + self._LABEL_SLOPE * subject.risk
            + self._LABEL_OVERDUE_BUMP * outcome.currently_overdue
            + self._LABEL_SEVERE_BUMP * outcome.severe
        )
        return 1 if self.rng.random() < _sigmoid(logit) else 0


# Name parts and vocabularies --------------------------------------------------------------------

_ZH_NUMERALS: Final = "〇一二三四五六七八九"
_SHOPS: Final = (
    ("餐馆", "Restaurant"),
    ("便利店", "Convenience Store"),
    ("五金店", "Hardware Store"),
    ("理发店", "Hair Salon"),
    ("水果店", "Fruit Shop"),
    ("汽车修理店", "Car Repair Shop"),
    ("服装店", "Clothing Store"),
)
_COOP_WORDS: Final = (
    ("丰收", "Fengshou"),
    ("金穗", "Jinsui"),
    ("绿源", "Lvyuan"),
    ("惠农", "Huinong"),
)
_CROPS: Final = (
    ("果蔬种植", "Fruit and Vegetable"),
    ("茶叶", "Tea"),
    ("水稻种植", "Rice"),
    ("养殖", "Livestock"),
)
_TRADES: Final = (
    ("餐饮行业", "Catering Industry"),
    ("物流", "Logistics"),
    ("软件行业", "Software Industry"),
    ("个体劳动者", "Self-Employed Workers"),
    ("旅游", "Tourism"),
    ("建筑业", "Construction Industry"),
)
_SCHOOL_WORDS: Final = (("启明", "Qiming"), ("育才", "Yucai"), ("博雅", "Boya"), ("明德", "Mingde"))

_PERSON_CAUSES: Final = (
    "民间借贷纠纷",
    "金融借款合同纠纷",
    "信用卡纠纷",
    "买卖合同纠纷",
    "房屋租赁合同纠纷",
)
_ENTERPRISE_CAUSES: Final = (
    "买卖合同纠纷",
    "金融借款合同纠纷",
    "建设工程施工合同纠纷",
    "承揽合同纠纷",
    "劳动争议",
    "租赁合同纠纷",
)

# Licence name, category (行政许可法 Art. 12), licensed activity.
_LICENCES: Final = (
    ("食品经营许可证", "general", "预包装食品销售；热食类食品制售"),
    ("食品生产许可证", "general", "糕点、饮料生产"),
    ("工业产品生产许可证", "certification", "电线电缆生产"),
    ("特种设备生产许可证", "special", "电梯安装、改造、修理"),
    ("药品经营许可证", "general", "中成药、化学药制剂零售"),
    ("医疗器械经营许可证", "general", "第三类医疗器械经营"),
    ("计量器具型式批准证书", "certification", "电子计价秤"),
    ("广告发布登记", "registration", "广告发布业务"),
)

# Penalty types by severity class (RULES.md 12, 14) with the fine range in yuan, or 0 for
# penalties that carry no fine.
_PENALTIES: Final[Mapping[str, tuple[tuple[str, int, int], ...]]] = {
    "minor": (("warning", 0, 0), ("fine", 500, 5_000)),
    "general": (
        ("fine", 5_000, 200_000),
        ("confiscation", 10_000, 300_000),
        ("public_criticism", 0, 0),
    ),
    "serious": (
        ("fine", 200_000, 5_000_000),
        ("suspension", 0, 0),
        ("licence_revocation", 0, 0),
        ("business_restriction", 0, 0),
    ),
}
_VIOLATIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "minor": ("未按规定公示年度报告", "未在显著位置亮照经营", "价格标示不规范"),
    "general": ("虚假宣传", "销售不合格产品", "无证经营", "侵犯注册商标专用权"),
    "serious": ("生产销售伪劣产品", "食品安全严重违法", "商业贿赂", "制售假药"),
}

# (title, level, awarding body, years the title is held or 0 for life). 守合同重信用 titles
# are publicised for two years at a time; personal honours do not lapse.
_ENTERPRISE_HONOURS: Final = (
    ("守合同重信用企业", "provincial", "{province}市场监督管理局", 2),
    ("诚信示范企业", "municipal", "{city}市人民政府", 3),
    ("安全生产先进单位", "county", "{city}市应急管理局", 0),
    ("全国质量奖", "national", "中国质量协会", 0),
)
_PERSON_HONOURS: Final = (
    ("优秀志愿者", "municipal", "共青团{city}市委员会", 0),
    ("见义勇为先进个人", "municipal", "{city}市人民政府", 0),
    ("劳动模范", "provincial", "{province}人民政府", 0),
    ("全国五一劳动奖章", "national", "中华全国总工会", 0),
)


# --- entry point --------------------------------------------------------------------------------


def generate_population(
    persons: int,
    enterprises: int,
    seed: int,
    out_dir: Path,
    *,
    file_format: FileFormat = "jsonl",
    as_of: date = DEFAULT_AS_OF,
    corrections: bool = True,
) -> SynthManifest:
    """Generate a synthetic population and write its batch files, labels and manifest.

    ``enterprises`` counts all organisations; about 5 % of them are other organisations
    (civil-affairs bodies, public institutions). Rows are written as they are generated, so
    memory holds only the subjects. The output directory is created if needed; files of the
    same names are overwritten, other files are left alone. Raises :class:`SynthError` for
    negative counts or an unknown format.
    """
    if persons < 0 or enterprises < 0:
        raise SynthError("persons and enterprises must not be negative")
    if file_format not in FILE_FORMATS:
        raise SynthError(f"unknown file format {file_format!r}; expected one of {FILE_FORMATS}")
    if as_of.year < 2000:
        raise SynthError("as_of must be in 2000 or later")
    layout = _load_catalog_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    synth = _Synthesizer(seed, out_dir, file_format, as_of, corrections, layout)
    synth.build_furnishers()
    organisations = synth.build_enterprises(enterprises)
    people = synth.build_persons(persons)
    synth.open_writers()
    try:
        with (out_dir / LABELS_FILE).open("w", encoding="utf-8", newline="") as labels_file:
            labels = csv.writer(labels_file, lineterminator="\n")
            labels.writerow(LABEL_COLUMNS)
            for subject in (*people, *organisations):
                label = synth.subject_records(subject)
                labels.writerow((subject.id_type, subject.identifier, label, as_of.isoformat()))
    finally:
        files = synth.close_writers()
    manifest = SynthManifest(
        seed=seed,
        as_of=as_of,
        persons=persons,
        enterprises=enterprises,
        catalog_version=layout.version,
        furnishers=synth.furnishers,
        files=files,
        labels_path=LABELS_FILE,
    )
    (out_dir / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
    return manifest
