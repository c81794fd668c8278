"""Word lists the demo generator draws names, places and texts from (per profile)."""

from __future__ import annotations

FIRST_NAMES_EN = (
    "Oliver", "George", "Harry", "Jack", "Jacob", "Noah", "Charlie", "Muhammad", "Thomas", "Oscar",
    "William", "James", "Leo", "Alfie", "Henry", "Joshua", "Freddie", "Archie", "Ethan", "Isaac",
    "Olivia", "Amelia", "Isla", "Ava", "Emily", "Sophia", "Grace", "Mia", "Poppy", "Ella", "Lily",
    "Evie", "Isabella", "Sophie", "Ivy", "Freya", "Harper", "Willow", "Daisy", "Alice", "Priya", "Aisha",
    "Mei", "Sean", "Siobhan", "Rhys", "Catrin", "Fiona", "Callum", "Niamh",
)
LAST_NAMES_EN = (
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson",
    "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards", "Hughes", "Green", "Hall",
    "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood", "Turner", "Martin", "Cooper", "Hill",
    "Ward", "Morris", "Moore", "Clark", "Lee", "King", "Baker", "Harrison", "Morgan", "Allen", "Khan",
    "Scott", "Young", "Campbell", "Kelly", "Murphy", "Stewart", "Reid", "Singh", "Chen",
)
COMPANY_WORDS_EN = (
    "Willow", "Oak", "Harbour", "Meadow", "Bramble", "Thistle", "Copper", "Lantern", "Kestrel", "Ivy",
    "Primrose", "Hawthorn", "Saffron", "Juniper", "Larch", "Heron", "Bluebell", "Foxglove", "Marigold",
    "Rowan", "Amber", "Cedar", "Linden", "Poppy", "Wren",
)
COMPANY_KINDS_EN = ("Gifts", "Home", "Interiors", "Trading", "Emporium", "Living", "Crafts", "Boutique",
                    "Design", "Events", "Hotels", "Florists", "Cafe", "Stores")
COMPANY_SUFFIX_EN = ("Ltd", "Ltd", "Limited", "LLP", "& Co")
EMAIL_DOMAINS_EN = ("gmail.com", "outlook.com", "hotmail.co.uk", "yahoo.co.uk", "btinternet.com",
                    "icloud.com", "sky.com")

# (hanzi, pinyin)
SURNAMES_ZH = (("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"),
               ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"), ("徐", "xu"), ("孙", "sun"),
               ("马", "ma"), ("朱", "zhu"), ("胡", "hu"), ("郭", "guo"), ("何", "he"), ("林", "lin"),
               ("高", "gao"), ("罗", "luo"))
GIVEN_NAMES_ZH = (("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("秀英", "xiuying"), ("敏", "min"),
                  ("静", "jing"), ("丽", "li"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"),
                  ("洋", "yang"), ("勇", "yong"), ("艳", "yan"), ("杰", "jie"), ("娟", "juan"),
                  ("涛", "tao"), ("明", "ming"), ("超", "chao"), ("秀兰", "xiulan"), ("霞", "xia"),
                  ("婷", "ting"), ("浩", "hao"), ("宇", "yu"), ("欣怡", "xinyi"), ("子涵", "zihan"))
COMPANY_WORDS_ZH = (("华信", "huaxin"), ("恒通", "hengtong"), ("鼎盛", "dingsheng"), ("众合", "zhonghe"),
                    ("启航", "qihang"), ("博远", "boyuan"), ("瑞丰", "ruifeng"), ("嘉禾", "jiahe"),
                    ("金桥", "jinqiao"), ("新锐", "xinrui"), ("融创", "rongchuang"), ("德信", "dexin"),
                    ("优品", "youpin"), ("云帆", "yunfan"), ("汇智", "huizhi"))
COMPANY_KINDS_ZH = ("贸易", "科技", "咨询", "文化传媒", "餐饮管理", "电子商务", "信息技术", "物流",
                    "设计", "教育科技")
EMAIL_DOMAINS_ZH = ("qq.com", "163.com", "126.com", "foxmail.com", "sina.com", "outlook.com")

# (city, region)
CITIES_UK = (("London", "London"), ("Manchester", "North West"), ("Liverpool", "North West"),
             ("Leeds", "Yorkshire"), ("Sheffield", "Yorkshire"), ("Birmingham", "West Midlands"),
             ("Coventry", "West Midlands"), ("Bristol", "South West"), ("Exeter", "South West"),
             ("Newcastle", "North East"), ("Nottingham", "East Midlands"), ("Leicester", "East Midlands"),
             ("Cambridge", "East of England"), ("Norwich", "East of England"), ("Brighton", "South East"),
             ("Oxford", "South East"), ("Southampton", "South East"), ("Cardiff", "Wales"),
             ("Edinburgh", "Scotland"), ("Glasgow", "Scotland"), ("Belfast", "Northern Ireland"))
CITY_WEIGHTS_UK = (6, 3, 2, 2, 1.5, 3, 1, 2, 1, 1.5, 1.5, 1.2, 1, 1, 1.2, 1, 1.2, 1.2, 1.5, 1.8, 1)
CITIES_CN = (("上海", "华东"), ("杭州", "华东"), ("苏州", "华东"), ("南京", "华东"), ("北京", "华北"),
             ("天津", "华北"), ("深圳", "华南"), ("广州", "华南"), ("成都", "西南"), ("重庆", "西南"),
             ("武汉", "华中"), ("西安", "西北"))
CITY_WEIGHTS_CN = (6, 3, 2.5, 2, 5, 1.5, 4, 3.5, 2, 1.5, 1.5, 1)

TICKET_SUBJECTS = {
    "complaint": ("Item arrived damaged", "Late delivery", "Wrong item sent", "Charged twice",
                  "Rude staff", "Missing items in order", "Service not delivered on time",
                  "Quality not as described"),
    "inquiry": ("Where is my order?", "Opening hours", "Product availability", "Price question",
                "How do I change my address?", "Invoice copy request"),
    "request": ("Change delivery address", "Cancel order", "Update billing details", "Request a quote",
                "Add a user to the account", "Request a refund"),
    "follow_up": ("Follow-up on previous case", "Checking resolution", "Customer called back",
                  "Escalation follow-up"),
}
INTERACTION_NOTES = {
    "call": ("Discussed upcoming needs", "Left voicemail", "Confirmed order details", "Introduced new range"),
    "email": ("Sent catalogue", "Sent quote", "Sent invoice reminder", "Newsletter reply"),
    "meeting": ("Quarterly review", "Product demo", "Contract renewal discussion", "Site visit"),
    "follow_up_call": ("Checked the case is resolved", "Customer satisfied", "Customer still unhappy",
                       "No answer"),
    "care_message": ("Birthday greeting", "Holiday greeting", "Loyalty points reminder",
                     "We miss you offer"),
}
INTERACTION_OUTCOMES = {
    "call": ("reached", "no_answer", "left_message", "interested", "not_interested"),
    "email": ("sent", "replied", "bounced"),
    "meeting": ("held", "rescheduled", "interested"),
    "follow_up_call": ("reached", "no_answer", "resolved", "escalated"),
    "care_message": ("sent", "sent", "opened"),
}
