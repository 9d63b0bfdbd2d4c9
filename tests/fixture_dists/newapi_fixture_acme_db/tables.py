from piccolo.columns import Integer, Varchar
from piccolo.table import Table


class AcmeItem(Table, tablename="plugin_acme_items"):
    name = Varchar(length=64)
    user_id = Integer()
