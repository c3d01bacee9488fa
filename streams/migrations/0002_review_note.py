from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("streams", "0001_initial")]

    operations = [migrations.RenameField("insight", "review_reason", "review_note")]
