"""The product categories of the synthetic catalog: attribute pools, option dimensions, price ranges.

Every category belongs to a department; a purchase in the right department but the wrong category
earns a partial type factor (see `envs.webshop.reward`). The categories in `HELD_OUT_CATEGORIES`
(one per department) are searchable like the others but appear only in held-out instructions.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    """One kind of product. Attribute pools are disjoint within a category."""

    name: str  # plural, as in instructions: "t-shirts"
    noun: str  # singular, as in titles: "T-Shirt"
    department: str
    materials: tuple[str, ...]
    styles: tuple[str, ...]
    traits: tuple[str, ...]  # adjectival features: "machine washable"
    extras: tuple[str, ...]  # noun features: "kangaroo pocket"
    options: tuple[tuple[str, tuple[str, ...]], ...]  # (dimension, all values in display order)
    price: tuple[float, float]

    @property
    def features(self) -> tuple[str, ...]:
        return self.traits + self.extras


COLORS = ("black", "white", "red", "blue", "green", "grey", "navy", "pink", "beige", "yellow")
APPAREL = ("XS", "S", "M", "L", "XL", "XXL")
SHOE = tuple(str(n) for n in range(6, 13))

CATEGORIES: tuple[Category, ...] = (
    # -- clothing ---------------------------------------------------------------------------------
    Category(
        "t-shirts", "T-Shirt", "clothing", ("cotton", "polyester", "linen", "bamboo", "merino wool"),
        ("crew neck", "v-neck", "slim fit", "relaxed fit", "long sleeve"),
        ("moisture wicking", "machine washable", "quick dry", "wrinkle free"), ("chest pocket", "tagless collar"),
        (("size", APPAREL), ("color", COLORS), ("pack", ("1", "2", "3", "5"))), (8.0, 35.0),
    ),
    Category(
        "hoodies", "Hoodie", "clothing", ("cotton", "fleece", "polyester", "french terry"),
        ("pullover", "zip-up", "oversized", "cropped"),
        ("machine washable", "lightweight", "heavyweight"), ("kangaroo pocket", "thumbholes", "lined hood"),
        (("size", APPAREL), ("color", COLORS)), (20.0, 70.0),
    ),
    Category(
        "socks", "Socks", "clothing", ("cotton", "merino wool", "bamboo", "nylon"),
        ("ankle", "crew", "no-show", "knee high"),
        ("cushioned", "moisture wicking", "odor resistant"), ("arch support", "reinforced heel"),
        (("size", ("S", "M", "L", "XL")), ("color", COLORS), ("pack", ("3", "6", "12"))), (6.0, 30.0),
    ),
    Category(
        "jeans", "Jeans", "clothing", ("stretch denim", "raw denim", "organic cotton", "recycled denim"),
        ("skinny", "straight leg", "bootcut", "relaxed fit", "high rise"),
        ("distressed", "faded", "stain resistant"), ("button fly", "zip fly"),
        (("waist", ("28", "30", "32", "34", "36", "38")), ("color", ("black", "blue", "grey", "white"))),
        (25.0, 90.0),
    ),
    # -- footwear ---------------------------------------------------------------------------------
    Category(
        "running shoes", "Running Shoes", "footwear", ("mesh", "knit", "synthetic leather"),
        ("lightweight", "trail", "road", "wide fit"),
        ("breathable", "non-slip", "cushioned", "waterproof"), ("reflective details", "carbon plate"),
        (("size", SHOE), ("color", COLORS)), (40.0, 160.0),
    ),
    Category(
        "boots", "Boots", "footwear", ("leather", "suede", "rubber", "canvas"),
        ("ankle", "chelsea", "hiking", "combat"),
        ("waterproof", "insulated", "slip resistant"), ("steel toe", "side zipper"),
        (("size", SHOE), ("color", ("black", "brown", "tan", "grey"))), (45.0, 180.0),
    ),
    Category(
        "sandals", "Sandals", "footwear", ("leather", "rubber", "eva foam", "cork"),
        ("slide", "flip-flop", "sport", "platform"),
        ("water resistant", "quick dry", "vegan"), ("adjustable strap", "arch support", "cushioned footbed"),
        (("size", SHOE), ("color", ("black", "brown", "white", "blue", "pink"))), (15.0, 80.0),
    ),
    # -- kitchen ----------------------------------------------------------------------------------
    Category(
        "mugs", "Mug", "kitchen", ("ceramic", "stainless steel", "glass", "porcelain"),
        ("travel", "espresso", "classic", "tall"),
        ("dishwasher safe", "microwave safe", "leak proof", "double walled"), ("lid", "wide handle"),
        (("capacity", ("11 oz", "15 oz", "20 oz")), ("color", COLORS), ("pack", ("1", "2", "4", "6"))), (6.0, 40.0),
    ),
    Category(
        "water bottles", "Water Bottle", "kitchen", ("stainless steel", "tritan plastic", "glass", "aluminum"),
        ("sport", "wide mouth", "slim"),
        ("insulated", "leak proof", "bpa free", "dishwasher safe"), ("straw lid", "carry loop"),
        (("capacity", ("500 ml", "750 ml", "1 l")), ("color", COLORS), ("pack", ("1", "2", "3"))), (8.0, 45.0),
    ),
    Category(
        "frying pans", "Frying Pan", "kitchen", ("cast iron", "stainless steel", "aluminum", "carbon steel"),
        ("nonstick", "tri-ply", "pre-seasoned", "deep"),
        ("oven safe", "induction compatible", "dishwasher safe"), ("glass lid", "helper handle"),
        (("size", ("8 inch", "10 inch", "12 inch")),), (15.0, 120.0),
    ),
    Category(
        "teapots", "Teapot", "kitchen", ("ceramic", "cast iron", "glass", "porcelain"),
        ("japanese", "classic", "modern", "vintage"),
        ("stovetop safe", "dishwasher safe", "heat resistant"), ("removable infuser", "bamboo handle"),
        (("capacity", ("600 ml", "1 l", "1.5 l")), ("color", ("black", "white", "blue", "green", "red"))),
        (15.0, 75.0),
    ),
    # -- electronics ------------------------------------------------------------------------------
    Category(
        "headphones", "Headphones", "electronics", ("aluminum", "plastic", "protein leather"),
        ("over-ear", "on-ear", "in-ear", "open-back"),
        ("noise cancelling", "wireless", "foldable", "sweat resistant"), ("built-in microphone", "carrying case"),
        (("color", ("black", "white", "silver", "blue", "red")),), (20.0, 300.0),
    ),
    Category(
        "phone cases", "Phone Case", "electronics", ("silicone", "leather", "tpu", "polycarbonate"),
        ("slim", "rugged", "wallet", "clear"),
        ("shockproof", "magnetic", "anti-yellowing"), ("kickstand", "card slot", "raised edges"),
        (("model", ("iphone 15", "iphone 14", "galaxy s24", "pixel 8")), ("color", COLORS)), (8.0, 45.0),
    ),
    Category(
        "charging cables", "Charging Cable", "electronics", ("braided nylon", "tpe", "silicone"),
        ("usb-c", "lightning", "magnetic", "retractable"),
        ("fast charging", "tangle free", "heavy duty"), ("data sync", "led indicator"),
        (("length", ("1 ft", "3 ft", "6 ft", "10 ft")), ("color", ("black", "white", "red", "blue")),
         ("pack", ("1", "2", "3", "5"))), (5.0, 30.0),
    ),
    Category(
        "keyboards", "Keyboard", "electronics", ("aluminum", "plastic", "walnut wood"),
        ("mechanical", "low profile", "compact", "ergonomic"),
        ("wireless", "backlit", "hot swappable", "quiet"), ("wrist rest", "volume knob"),
        (("layout", ("full size", "tenkeyless", "60 percent")), ("color", ("black", "white", "grey", "pink"))),
        (25.0, 200.0),
    ),
    # -- bags -------------------------------------------------------------------------------------
    Category(
        "backpacks", "Backpack", "bags", ("nylon", "canvas", "polyester", "leather"),
        ("laptop", "hiking", "rolltop", "mini"),
        ("water resistant", "anti theft", "lightweight"), ("usb charging port", "padded straps", "hip belt"),
        (("capacity", ("20 l", "30 l", "40 l")), ("color", COLORS)), (20.0, 150.0),
    ),
    Category(
        "tote bags", "Tote Bag", "bags", ("canvas", "cotton", "leather", "jute"),
        ("shopping", "beach", "zippered", "oversized"),
        ("reusable", "foldable", "water resistant"), ("inner pocket", "shoulder strap"),
        (("color", COLORS), ("pack", ("1", "2", "3"))), (8.0, 60.0),
    ),
    Category(
        "suitcases", "Suitcase", "bags", ("polycarbonate", "aluminum", "abs plastic", "ballistic nylon"),
        ("carry-on", "checked", "hardside", "softside"),
        ("expandable", "lightweight", "scratch resistant"), ("spinner wheels", "tsa lock", "usb port"),
        (("size", ("20 inch", "24 inch", "28 inch")), ("color", ("black", "silver", "navy", "red", "green"))),
        (60.0, 300.0),
    ),
    # -- home -------------------------------------------------------------------------------------
    Category(
        "lamps", "Lamp", "home", ("metal", "wood", "ceramic", "glass"),
        ("desk", "floor", "bedside", "industrial"),
        ("dimmable", "touch control", "energy saving"), ("usb port", "led bulb included", "adjustable arm"),
        (("color", ("black", "white", "gold", "silver", "green")), ("pack", ("1", "2"))), (15.0, 120.0),
    ),
    Category(
        "pillows", "Pillow", "home", ("memory foam", "down alternative", "cotton", "latex"),
        ("standard", "lumbar", "contour", "body"),
        ("hypoallergenic", "cooling", "machine washable"), ("adjustable loft", "removable cover"),
        (("size", ("standard", "queen", "king")), ("pack", ("1", "2", "4"))), (15.0, 80.0),
    ),
    Category(
        "blankets", "Blanket", "home", ("fleece", "wool", "cotton", "sherpa"),
        ("throw", "weighted", "knitted", "quilted"),
        ("machine washable", "reversible", "lightweight", "extra soft"), ("fringe edges", "carry strap"),
        (("size", ("throw", "twin", "queen", "king")), ("color", COLORS)), (20.0, 110.0),
    ),
    Category(
        "candles", "Candle", "home", ("soy wax", "beeswax", "coconut wax", "paraffin"),
        ("jar", "pillar", "tealight", "travel tin"),
        ("long lasting", "scented", "unscented"), ("cotton wick", "wooden wick"),
        (("scent", ("lavender", "vanilla", "sandalwood", "citrus", "pine")), ("pack", ("1", "2", "3", "6"))),
        (8.0, 45.0),
    ),
)

BY_NAME: dict[str, Category] = {c.name: c for c in CATEGORIES}
HELD_OUT_CATEGORIES = frozenset({"hoodies", "sandals", "teapots", "keyboards", "suitcases", "candles"})
HELD_IN_CATEGORIES = tuple(c.name for c in CATEGORIES if c.name not in HELD_OUT_CATEGORIES)

BRANDS = (
    "Northwind", "Acornfield", "BlueHarbor", "Cedarline", "Duneway", "Everpeak", "Foxglove", "Granite Co",
    "Hollowbrook", "Ironbark", "Juniper", "Kestrel", "Lumen", "Maplewood", "Nimbus", "Orchard", "Pinecrest",
    "Quillon", "Riverstone", "Solstice", "Tidewater", "Umbra", "Vantage", "Willowmere", "Yarrow", "Zephyr",
)
