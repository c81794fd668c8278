"""Write the two demo catalogs (``retail.csv`` and ``services.csv``) beside this script.

Run once and commit the CSV files: ``.venv/bin/python warehouse/demo/catalogs/build_catalogs.py``.
The output is deterministic (fixed seed), so re-running it reproduces the committed files.

Columns: product_code, name, name_en, category, unit_price, is_merchandise, billing (one_off |
monthly | annual), popularity (relative weight of the product in baskets).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
COLUMNS = ("product_code", "name", "name_en", "category", "unit_price", "is_merchandise", "billing",
           "popularity")

# category -> (typical price, nouns)
RETAIL_CATEGORIES: dict[str, tuple[float, tuple[str, ...]]] = {
    "candles": (3.5, ("T-LIGHT HOLDER", "PILLAR CANDLE", "SCENTED CANDLE", "CANDLE POT", "LANTERN")),
    "mugs": (2.9, ("MUG", "ESPRESSO CUP", "TEA CUP AND SAUCER", "BEAKER", "JUMBO MUG")),
    "tableware": (4.2, ("PLATE", "BOWL", "SIDE PLATE", "SERVING DISH", "CAKE STAND")),
    "glassware": (3.8, ("TUMBLER", "WINE GLASS", "CARAFE", "JAR", "BOTTLE")),
    "kitchen textiles": (2.5, ("TEA TOWEL", "APRON", "OVEN GLOVE", "TABLE RUNNER", "NAPKIN SET")),
    "storage": (4.9, ("STORAGE TIN", "BISCUIT TIN", "TRINKET BOX", "LUNCH BOX", "STORAGE JAR")),
    "bags": (1.9, ("JUMBO BAG", "SHOPPER BAG", "TOTE BAG", "LUNCH BAG", "CHARLOTTE BAG")),
    "wrapping": (0.6, ("WRAPPING PAPER", "GIFT TAG SET", "RIBBON REEL", "GIFT BAG", "TISSUE PACK")),
    "cards": (0.5, ("GREETING CARD", "BIRTHDAY CARD", "POSTCARD SET", "NOTECARD PACK", "THANK YOU CARD")),
    "stationery": (1.2, ("NOTEBOOK", "PENCIL SET", "ERASER", "MEMO PAD", "STICKER SHEET")),
    "party": (1.1, ("PAPER PLATES", "PAPER CUPS", "BUNTING", "PARTY BAG", "CAKE CASES")),
    "baking": (2.2, ("BAKING SET", "COOKIE CUTTER", "CUPCAKE CASES", "ROLLING PIN", "CAKE TIN")),
    "christmas": (2.8, ("BAUBLE", "CHRISTMAS DECORATION", "ADVENT CALENDAR", "STAR ORNAMENT", "WREATH")),
    "easter": (1.8, ("EASTER EGG", "HANGING CHICK", "BUNNY DECORATION", "EGG CUP", "EASTER TREE")),
    "garden": (5.5, ("PLANT POT", "WATERING CAN", "BIRD HOUSE", "GARDEN SIGN", "HERB MARKER")),
    "lighting": (6.5, ("FAIRY LIGHTS", "LAMP", "NIGHT LIGHT", "STRING LIGHTS", "LIGHT GARLAND")),
    "clocks": (8.5, ("WALL CLOCK", "ALARM CLOCK", "MANTEL CLOCK", "KITCHEN CLOCK", "TRAVEL CLOCK")),
    "frames": (3.9, ("PHOTO FRAME", "PICTURE FRAME", "MULTI FRAME", "MINI FRAME", "HANGING FRAME")),
    "signs": (2.1, ("METAL SIGN", "WOODEN SIGN", "DOOR SIGN", "HANGING HEART", "PLAQUE")),
    "hooks": (1.6, ("COAT HOOK", "KEY HOOK", "HOOK RACK", "DOOR HANGER", "WALL PEG")),
    "cushions": (4.5, ("CUSHION COVER", "CUSHION", "BOLSTER", "SEAT PAD", "FLOOR CUSHION")),
    "throws": (9.9, ("THROW", "BLANKET", "PICNIC BLANKET", "BABY BLANKET", "KNITTED THROW")),
    "bathroom": (2.7, ("SOAP DISH", "TOOTHBRUSH HOLDER", "WASH BAG", "BATH SALTS", "HAND TOWEL")),
    "toys": (2.3, ("SPINNING TOP", "JIGSAW", "SKIPPING ROPE", "TOY CAR", "DOLLS HOUSE")),
    "children": (2.6, ("CHILDRENS CUTLERY", "CHILDRENS APRON", "MONEY BOX", "NIGHT LIGHT", "PLAY TENT")),
    "jewellery": (1.7, ("BRACELET", "NECKLACE", "EARRINGS", "HAIR CLIP", "RING")),
    "accessories": (2.4, ("PURSE", "UMBRELLA", "HAND WARMER", "KEY RING", "MIRROR COMPACT")),
    "seasonal": (1.5, ("HOT WATER BOTTLE", "SUN HAT", "FAN", "ICE LOLLY MOULDS", "SNOW GLOBE")),
    "doorstops": (4.1, ("DOORSTOP", "DRAUGHT EXCLUDER", "BOOKEND", "PAPERWEIGHT", "WEIGHT")),
    "vintage": (3.3, ("VINTAGE TIN", "RETRO SPOT", "DOILY", "POSTER", "PHOTO ALBUM")),
    "feathers": (0.9, ("FEATHER PEN", "FEATHER GARLAND", "FEATHER HEART", "FEATHER WREATH", "BOA")),
    "ceramics": (3.6, ("VASE", "JUG", "TEAPOT", "MILK JUG", "SUGAR BOWL")),
    "cutlery": (3.0, ("CUTLERY SET", "CAKE FORKS", "TEA SPOONS", "SALAD SERVERS", "BUTTER KNIFE")),
    "picnic": (6.0, ("PICNIC BASKET", "FLASK", "COOL BAG", "PICNIC SET", "DRINKS BOTTLE")),
    "pets": (2.8, ("PET BOWL", "PET TOY", "PET BED", "COLLAR", "TREAT TIN")),
    "crafts": (1.4, ("CRAFT KIT", "SEWING KIT", "KNITTING SET", "BUTTON BOX", "STENCIL SET")),
    "office": (3.2, ("DESK TIDY", "PEN POT", "LETTER RACK", "FILE BOX", "CLIPBOARD")),
    "wall art": (7.5, ("WALL ART", "CANVAS PRINT", "WALL STICKER", "MIRROR", "WALL HANGING")),
    "home fragrance": (3.9, ("REED DIFFUSER", "INCENSE SET", "WAX MELT", "ROOM SPRAY", "POT POURRI")),
    "gift sets": (6.9, ("GIFT SET", "GIFT BOX", "HAMPER", "PAMPER SET", "TREAT BOX")),
}
ADJECTIVES = ("WHITE", "RED", "PINK", "BLUE", "GREEN", "IVORY", "BLACK", "GOLD", "SILVER", "RETRO SPOT",
              "REGENCY", "VINTAGE", "HEART", "STAR", "FLORAL", "SPOTTY", "STRIPED", "WOODLAND", "PAISLEY",
              "SCANDI", "ROSE", "DAISY", "BIRD", "OWL", "CHERRY", "LACE", "ZINC", "ENAMEL", "GLASS",
              "HANGING", "SMALL", "LARGE", "JUMBO", "MINI", "SET OF 3", "SET OF 6")


def build_retail(rng: np.random.Generator) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    used_codes: set[str] = set()
    used_names: set[str] = set()
    for category, (base_price, nouns) in RETAIL_CATEGORIES.items():
        made = 0
        while made < 50:
            adjective = ADJECTIVES[rng.integers(len(ADJECTIVES))]
            second = ADJECTIVES[rng.integers(len(ADJECTIVES))]
            noun = nouns[rng.integers(len(nouns))]
            name = f"{adjective} {noun}" if rng.random() < 0.5 or second == adjective else \
                f"{adjective} {second} {noun}"
            if name in used_names:
                continue
            code = f"{rng.integers(10000, 99999)}"
            if rng.random() < 0.15:
                code += "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[rng.integers(26)]
            if code in used_codes:
                continue
            used_names.add(name)
            used_codes.add(code)
            price = round(float(base_price * rng.lognormal(0.0, 0.45)), 2)
            rows.append({"product_code": code, "name": name, "name_en": "", "category": category,
                         "unit_price": f"{max(price, 0.19):.2f}", "is_merchandise": "true",
                         "billing": "one_off", "popularity": f"{rng.pareto(1.2) + 0.05:.4f}"})
            made += 1
    for code, name, price in (("POST", "POSTAGE", 18.0), ("SHIPPING", "SHIPPING CHARGE", 5.95),
                              ("FEE", "GIFT WRAP SERVICE FEE", 1.5)):
        rows.append({"product_code": code, "name": name, "name_en": "", "category": "non-merchandise",
                     "unit_price": f"{price:.2f}", "is_merchandise": "false", "billing": "one_off",
                     "popularity": "0"})
    return rows


# (code stem, category, Chinese name, English name, base price CNY, billing, tiers apply, popularity)
SERVICES: tuple[tuple[str, str, str, str, float, str, bool, float], ...] = (
    ("REG", "company_registration", "公司注册", "Company registration", 1500, "one_off", True, 3.0),
    ("BKP", "bookkeeping", "代理记账", "Agency bookkeeping", 300, "monthly", True, 6.0),
    ("TAX", "tax_filing", "月度纳税申报", "Monthly tax filing", 200, "monthly", True, 5.0),
    ("ANN", "annual_report", "工商年报", "Annual report filing", 500, "annual", True, 2.5),
    ("TMK", "trademark", "商标注册", "Trademark registration", 1200, "one_off", True, 1.8),
    ("LIC", "licences", "许可证办理", "Business licence application", 2500, "one_off", True, 1.2),
    ("PAY", "payroll", "薪资代发", "Payroll service", 400, "monthly", True, 2.0),
    ("SSC", "payroll", "社保公积金代缴", "Social insurance and housing fund service", 250, "monthly", True, 2.0),
    ("ADR", "registered_address", "注册地址服务", "Registered-address service", 2400, "annual", True, 2.2),
    ("CHG", "company_changes", "工商变更", "Company change filing", 800, "one_off", True, 1.0),
    ("DRG", "deregistration", "公司注销", "Company deregistration", 3000, "one_off", True, 0.5),
    ("AUD", "audit", "审计报告", "Audit report", 5000, "annual", True, 0.6),
    ("BNK", "banking", "银行开户协助", "Bank account opening assistance", 600, "one_off", False, 1.5),
    ("INV", "invoicing", "发票代开", "Invoice issuing service", 100, "one_off", False, 1.2),
    ("CON", "consulting", "财税咨询", "Tax and finance consulting", 1000, "one_off", True, 0.8),
    ("ICP", "licences", "ICP许可证", "ICP licence", 4000, "one_off", False, 0.4),
    ("FDI", "company_registration", "外资公司注册", "Foreign-invested company registration", 8000, "one_off",
     True, 0.4),
    ("EXP", "licences", "进出口权办理", "Import and export rights registration", 1800, "one_off", False, 0.5),
    ("SEL", "company_registration", "个体户注册", "Sole-proprietor registration", 500, "one_off", False, 1.0),
    ("HRC", "payroll", "劳动合同与人事外包", "HR outsourcing", 900, "monthly", True, 0.6),
)
TIERS = (("B", "基础版", "Basic", 1.0), ("S", "标准版", "Standard", 1.6), ("P", "高级版", "Premium", 2.6))
VARIANTS = (("L", "有限公司", "limited company", 1.0), ("G", "一般纳税人", "general VAT payer", 1.5),
            ("F", "外资企业", "foreign-invested", 2.0))


def build_services(rng: np.random.Generator) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for stem, category, name_zh, name_en, price, billing, tiered, popularity in SERVICES:
        if not tiered:
            rows.append({"product_code": f"SV-{stem}", "name": name_zh, "name_en": name_en,
                         "category": category, "unit_price": f"{price:.2f}", "is_merchandise": "true",
                         "billing": billing, "popularity": f"{popularity:.4f}"})
            continue
        variants = VARIANTS if billing != "one_off" or stem in ("REG", "CHG", "DRG") else VARIANTS[:1]
        for tier_code, tier_zh, tier_en, tier_mult in TIERS:
            for var_code, var_zh, var_en, var_mult in variants:
                p = round(price * tier_mult * var_mult * float(rng.uniform(0.95, 1.05)), 0)
                weight = popularity / (tier_mult * var_mult)
                rows.append({"product_code": f"SV-{stem}-{tier_code}{var_code}",
                             "name": f"{name_zh}({tier_zh}·{var_zh})",
                             "name_en": f"{name_en} ({tier_en}, {var_en})",
                             "category": category, "unit_price": f"{p:.2f}", "is_merchandise": "true",
                             "billing": billing, "popularity": f"{weight:.4f}"})
    rows.append({"product_code": "FEE", "name": "政府规费代缴", "name_en": "Government fees (pass-through)",
                 "category": "non-merchandise", "unit_price": "300.00", "is_merchandise": "false",
                 "billing": "one_off", "popularity": "0"})
    return rows


def write(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    retail = build_retail(np.random.default_rng(20251231))
    services = build_services(np.random.default_rng(20251231))
    write(HERE / "retail.csv", retail)
    write(HERE / "services.csv", services)
    print(f"retail: {len(retail)} products in {len({r['category'] for r in retail})} categories")
    print(f"services: {len(services)} products in {len({r['category'] for r in services})} categories")


if __name__ == "__main__":
    main()
