"""The admin's bulk decision form: a reason (for a rejection) and a note."""

from django import forms

from audit.vocabulary import NOTE_MAX_LENGTH, ReasonCode


class DecisionForm(forms.Form):
    """Approve (an optional note) or reject (a reason code, and an optional note)."""

    reason_code = forms.ChoiceField(label="Reason", required=False)
    note = forms.CharField(
        label="Note (optional)",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 70}),
        max_length=NOTE_MAX_LENGTH,
        required=False,
    )

    def __init__(self, *args, reject: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.reject = reject
        if reject:
            codes = ReasonCode.objects.active()
            self.fields["reason_code"].choices = [("", "---------")] + [
                (code.code, code.label) for code in codes
            ]
            self.fields["reason_code"].required = True
            self.fields["reason_code"].error_messages["required"] = "A rejection needs a reason."
        else:
            del self.fields["reason_code"]
