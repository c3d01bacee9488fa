# ruff: noqa: E501  (a corpus: one line per entry reads best)
"""What a mid-size retail bank's contact centre hears in a day, as Agent Assist would word
it: several hundred texts of each kind, built from the topics, moments and rules below (the
same every run), so a demo's queue reads like a real one and not like twenty lines repeated.

Each kind is a product of short parts (a topic, how it came up, what to do) drawn in a fixed
shuffled order; none names a real customer (their details come from texts.PERSONAL)."""

import itertools
import random

SIZE = 600  # texts per kind at most

# Knowledge recommendations: (what the customer asks about, the article, what it says).
KNOWLEDGE_TOPICS = (
    (
        "a refund for a duplicate card payment",
        "KB-118",
        "refund the second charge once the merchant's settlement shows twice",
    ),
    (
        "roaming charges on their debit card abroad",
        "KB-204",
        "quote the non-sterling fee of 2.75% and the free cash withdrawals in the EEA",
    ),
    (
        "a password reset that keeps failing",
        "KB-031",
        "send the self-service link and check they can receive SMS at the number on file",
    ),
    (
        "a late card replacement",
        "KB-077",
        "apply the goodwill credit of up to 15 and give the courier's new delivery date",
    ),
    (
        "a failed direct debit",
        "KB-150",
        "explain the 5-day retry window and offer a card payment today",
    ),
    (
        "the end of their fixed-rate mortgage",
        "KB-309",
        "the product transfer can be booked 120 days before the end date without a fee",
    ),
    (
        "a chargeback on an online purchase",
        "KB-412",
        "the claim must be raised within 120 days of the transaction date",
    ),
    (
        "changing the billing address",
        "KB-002",
        "verify identity with two factors before updating the address",
    ),
    (
        "raising their credit card limit",
        "KB-233",
        "an increase needs an affordability check; no increase within 6 months of the last one",
    ),
    (
        "an overdraft fee they did not expect",
        "KB-145",
        "the fee can be refunded once in 12 months as a goodwill gesture",
    ),
    (
        "opening a joint account",
        "KB-061",
        "both holders must pass identity checks; the second can complete online within 14 days",
    ),
    (
        "a blocked contactless payment",
        "KB-088",
        "after five contactless payments a chip and PIN payment resets the counter",
    ),
    (
        "a savings rate change",
        "KB-190",
        "rate changes take effect 14 days after the notice; the customer can switch without penalty",
    ),
    (
        "paying off a loan early",
        "KB-276",
        "give the settlement figure, valid for 28 days, including up to 58 days' interest",
    ),
    (
        "a standing order that did not go out",
        "KB-097",
        "standing orders due on a weekend go out on the next working day",
    ),
    (
        "an international transfer that has not arrived",
        "KB-321",
        "SWIFT transfers take up to 4 working days; offer a trace after day 5",
    ),
    (
        "a lost card",
        "KB-012",
        "cancel the card at once, order a replacement and offer a digital card today",
    ),
    (
        "a bereavement notification",
        "KB-355",
        "take the details once, freeze the accounts and book the bereavement team's call back",
    ),
    (
        "a cash machine that kept their card",
        "KB-019",
        "the card is destroyed by the operator; order a replacement and check for recent transactions",
    ),
    (
        "switching their current account to us",
        "KB-140",
        "the 7-day switch service moves payments and closes the old account",
    ),
    (
        "interest on their ISA",
        "KB-388",
        "ISA interest is paid tax-free; the allowance resets on 6 April",
    ),
    (
        "a payment to a new payee flagged for checks",
        "KB-260",
        "ask the confirmation-of-payee questions and read the fraud warning in full",
    ),
    (
        "a car insurance claim",
        "KB-501",
        "take the claim reference, the date of the incident and the third party's details",
    ),
    (
        "travel insurance for a trip next week",
        "KB-517",
        "cover starts on the day it is bought; pre-existing conditions must be declared",
    ),
    (
        "a paper statement they want by post",
        "KB-046",
        "paper statements are free monthly; copies of older ones cost 5 each",
    ),
    (
        "a dispute about a merchant's refund",
        "KB-415",
        "wait 15 days for the merchant before a chargeback can be raised",
    ),
    (
        "their credit score after a missed payment",
        "KB-240",
        "a payment made within 30 days of the due date is not reported as missed",
    ),
    (
        "a mortgage payment holiday",
        "KB-312",
        "a payment holiday needs an affordability review and adds interest to the balance",
    ),
    (
        "paying in a cheque by app",
        "KB-065",
        "app cheque deposits up to 2,000 clear by 23:59 the next working day",
    ),
    (
        "closing an account",
        "KB-099",
        "move the regular payments first; a closing balance is sent within 5 working days",
    ),
)
KNOWLEDGE_OPENERS = (
    "Customer asks about {topic}: {advice} ({kb}).",
    "Question on {topic}. {kb}: {advice}.",
    "The customer wants to know about {topic}; per {kb}, {advice}.",
    "{Topic} came up. Suggested answer from {kb}: {advice}.",
    "For {topic}, {kb} says: {advice}.",
    "Customer is calling about {topic}. Article {kb}: {advice}.",
)
KNOWLEDGE_CLOSERS = (
    "",
    " Confirm the customer understood before moving on.",
    " Offer to send the article by e-mail.",
    " Note the outcome on the account.",
    " Check whether anything else is outstanding.",
)

# Sentiment: (what is happening, what to do).
SENTIMENT_MOMENTS = (
    (
        "frustration rising: 'cancel' said three times in a minute",
        "acknowledge the delay before offering options",
    ),
    (
        "negative sentiment after a long hold",
        "apologise for the wait and summarise what has been done so far",
    ),
    (
        "the customer sounds confused about the statement",
        "slow down and go through the charges line by line",
    ),
    ("sentiment improved after the refund offer", "confirm the next steps and close politely"),
    (
        "the customer mentions a bereavement",
        "switch to the sensitive-circumstances script and offer the specialist team",
    ),
    (
        "raised voice after the transfer was refused",
        "explain why the payment was held and what the customer can do now",
    ),
    (
        "the customer says this is the third call about the same problem",
        "take ownership and give a direct call-back time",
    ),
    (
        "long silences and short answers",
        "check the customer is still able to talk and offer a call back",
    ),
    (
        "the customer sounds anxious about fraud",
        "reassure them the card is blocked and explain the refund process",
    ),
    (
        "sarcasm detected about the wait time",
        "acknowledge it plainly; do not argue about the queue",
    ),
    ("the customer thanks the agent twice", "offer the satisfaction survey at the end of the call"),
    (
        "the customer mentions losing their job",
        "offer the financial support team and the payment plan options",
    ),
    (
        "the customer is talking over the agent",
        "pause, let them finish, then summarise what they said",
    ),
    (
        "sentiment dropped when the fee was mentioned",
        "explain what the fee is for and whether it can be refunded",
    ),
    ("the customer sounds unwell", "offer to continue later or to speak with a nominated person"),
    (
        "the customer threatens to complain to the ombudsman",
        "log a complaint now and give the reference number",
    ),
    (
        "the customer is pleased with the fast resolution",
        "confirm the outcome in writing if they want it",
    ),
    ("repeated requests for a manager", "offer the team leader call back within the hour"),
    ("the customer sounds rushed", "give the short answer first and offer the details by e-mail"),
    (
        "frustration about the app being down",
        "give the outage update and the phone banking alternative",
    ),
)
SENTIMENT_LEADS = (
    "Customer sentiment: {moment}. {Action}.",
    "{Moment}; {action}.",
    "Sentiment alert: {moment}. Suggested: {action}.",
    "Watch the tone: {moment}. {Action}.",
)
SENTIMENT_WHEN = (
    "",
    " (last 60 seconds)",
    " (since the transfer)",
    " (after the hold)",
    " (throughout the call)",
)

# Compliance flags: (the rule, what was or was not done).
COMPLIANCE_RULES = (
    (
        "call-recording disclosure (CR-01)",
        "the agent has not read the disclosure within the first 30 seconds",
    ),
    (
        "no card data on recorded lines (PCI DSS 3.3)",
        "a card number was spoken aloud while recording was on; pause recording before taking payment details",
    ),
    (
        "refund approval limit (FIN-07)",
        "the agent promised a refund above their approval limit; a supervisor must confirm",
    ),
    (
        "identity and verification (IDV-02)",
        "account details were discussed before identity was verified",
    ),
    (
        "marketing consent (GDPR Art. 21)",
        "the customer objected to marketing; the do-not-contact flag must be set before the call ends",
    ),
    (
        "vulnerable customers (VC-04)",
        "vulnerability indicators are present; the agent must offer the accessibility and support options",
    ),
    (
        "affordability before lending (CONC 5.2)",
        "a limit increase was offered before the affordability questions",
    ),
    (
        "complaint handling (DISP 1.6)",
        "the customer expressed dissatisfaction; it must be logged as a complaint with a reference",
    ),
    (
        "fraud warning before payment (APP-03)",
        "the confirmation-of-payee warning was not read before the transfer",
    ),
    (
        "fair treatment in arrears (CONC 7.3)",
        "the agent mentioned legal action before offering a payment plan",
    ),
    (
        "no advice without a licence (ADV-01)",
        "the agent recommended an investment product; only advisers may do so",
    ),
    (
        "data minimisation (GDPR Art. 5)",
        "the agent asked for the customer's full date of birth and mother's maiden name; one factor is enough here",
    ),
    (
        "cancellation rights (CCR 2013)",
        "the 14-day cancellation right was not explained for the new insurance policy",
    ),
    (
        "power of attorney (POA-02)",
        "a third party is speaking for the customer without a registered authority",
    ),
    (
        "sanctions screening (SAN-01)",
        "the payee country is on the enhanced-checks list; route the transfer to the payments team",
    ),
    ("price transparency (PRIN 2A)", "the fee was described as 'small'; quote the exact amount"),
    (
        "recording pause and resume (CR-03)",
        "recording was paused for payment and not resumed afterwards",
    ),
    ("account closure (ACC-09)", "the account was closed with a standing order still active"),
    (
        "third-party disclosure (GDPR Art. 6)",
        "balance information was given to a caller who is not an account holder",
    ),
    ("call-back promises (SLA-02)", "a call back was promised without a time being booked"),
)
COMPLIANCE_LEADS = (
    "Rule {rule}: {what}.",
    "{What} (rule: {rule}).",
    "Possible breach of {rule}: {what}.",
    "Check {rule}: {what}.",
)
COMPLIANCE_WHEN = (
    "",
    " Seen at the start of the call.",
    " Seen during the payment.",
    " Seen before the transfer.",
    " Seen at wrap-up.",
)

# Summaries: (what happened, resolution, wrap-up codes, reason, follow-up or None).
SUMMARY_CASES = (
    (
        "called about a double charge on the November statement",
        "the agent confirmed the duplicate payment and refunded the second charge",
        ("Billing dispute", "Refund issued", "Payment query"),
        "Duplicate charge on the statement",
        "Second charge refunded",
        "Check the refund reached the account within 5 days",
    ),
    (
        "asked about card fees before a trip to Spain",
        "the agent explained the non-sterling fee and set up a travel notice",
        ("Travel enquiry", "Card fees", "Travel notice"),
        "Card fees abroad",
        "Travel notice set",
        None,
    ),
    (
        "could not log in to the app after several password resets",
        "the agent verified identity, cleared the lock and sent a new reset link, which worked",
        ("Account access", "Password reset", "Security check"),
        "Locked out of online banking",
        "Account unlocked and password reset",
        None,
    ),
    (
        "complained that a replacement card was a week late",
        "the agent apologised, applied a goodwill credit and ordered a digital card",
        ("Card delivery", "Goodwill credit", "Complaint"),
        "Late replacement card",
        "Goodwill credit applied; digital card issued",
        "Call back if the card has not arrived in 3 days",
    ),
    (
        "reported a lost card and two payments they did not recognise",
        "the agent cancelled the card, raised a fraud claim and ordered a replacement",
        ("Lost card", "Fraud claim", "Card replacement"),
        "Lost card with unknown payments",
        "Card cancelled, claim raised",
        "Fraud team to contact the customer within 2 working days",
    ),
    (
        "wanted to fix their mortgage rate before the current deal ends",
        "the agent booked a product transfer appointment with an adviser",
        ("Mortgage", "Product transfer", "Appointment"),
        "Fixed rate ending soon",
        "Adviser appointment booked",
        "Adviser call on the booked date",
    ),
    (
        "disputed an overdraft fee",
        "the agent refunded the fee as a one-off goodwill gesture and explained the buffer",
        ("Fees", "Goodwill refund", "Overdraft"),
        "Unexpected overdraft fee",
        "Fee refunded once",
        None,
    ),
    (
        "asked why a transfer to a new payee was held",
        "the agent ran the payment checks with the customer and released the transfer",
        ("Payment held", "Fraud checks", "Transfer released"),
        "Transfer held for checks",
        "Checks passed; transfer released",
        None,
    ),
    (
        "told us about the death of a joint account holder",
        "the agent recorded the details, froze the sole accounts and booked the bereavement team",
        ("Bereavement", "Account freeze", "Specialist referral"),
        "Death of an account holder",
        "Bereavement team call booked",
        "Bereavement team to call within 2 working days",
    ),
    (
        "asked to raise their credit card limit",
        "the agent ran the affordability check and approved a smaller increase",
        ("Credit limit", "Affordability check", "Lending"),
        "Credit limit increase",
        "Smaller increase approved",
        None,
    ),
    (
        "complained about the branch closing",
        "the agent logged the complaint and explained the nearest branches and the post office service",
        ("Complaint", "Branch closure", "Service options"),
        "Local branch closing",
        "Complaint logged; alternatives explained",
        "Complaint response due in 8 weeks",
    ),
    (
        "could not make a contactless payment",
        "the agent explained the chip and PIN reset and checked the card was active",
        ("Card payment", "Contactless", "Card status"),
        "Contactless payment declined",
        "Chip and PIN reset explained",
        None,
    ),
    (
        "made a car insurance claim after a collision",
        "the agent took the claim details and arranged a courtesy car",
        ("Insurance claim", "Motor", "Courtesy car"),
        "Car collision claim",
        "Claim opened; courtesy car arranged",
        "Claims handler to call within 24 hours",
    ),
    (
        "asked to pay off a personal loan early",
        "the agent gave the settlement figure and the ways to pay",
        ("Loan", "Early settlement", "Payment options"),
        "Early loan settlement",
        "Settlement figure given",
        None,
    ),
    (
        "said they had lost their job and were worried about the mortgage",
        "the agent referred them to the financial support team and noted the account",
        ("Financial difficulty", "Vulnerability", "Referral"),
        "Financial difficulty",
        "Referred to financial support",
        "Support team to call within 2 working days",
    ),
    (
        "wanted a copy of an old statement for a visa application",
        "the agent ordered the statement by post and explained the fee",
        ("Statement request", "Documents", "Fees"),
        "Old statement needed",
        "Statement ordered",
        None,
    ),
    (
        "reported an international transfer that had not arrived",
        "the agent raised a trace with the correspondent bank",
        ("International payment", "Payment trace", "Enquiry"),
        "Missing international transfer",
        "Trace raised",
        "Update the customer when the trace completes",
    ),
    (
        "asked to close their savings account",
        "the agent moved the balance to the current account and closed the savings account",
        ("Account closure", "Savings", "Transfer"),
        "Savings account closure",
        "Balance moved; account closed",
        None,
    ),
    (
        "objected to marketing calls",
        "the agent set the do-not-contact preference and confirmed it",
        ("Marketing preferences", "Privacy", "Consent"),
        "Unwanted marketing",
        "Do-not-contact set",
        None,
    ),
    (
        "was charged for travel insurance they thought they had cancelled",
        "the agent confirmed the cancellation date and refunded the premium",
        ("Insurance", "Cancellation", "Refund issued"),
        "Charged after cancelling insurance",
        "Premium refunded",
        None,
    ),
)
SUMMARY_AFTER = (
    "",
    " The customer was satisfied with the outcome.",
    " The customer asked for the outcome in writing.",
    " The call had been transferred once before reaching the agent.",
)
SUMMARY_WHO = (
    "The customer",
    "A long-standing customer",
    "The account holder",
    "A business banking customer",
    "The customer, calling from abroad,",
    "A customer who had called before",
)


def _drawn(parts: list[str], seed: str) -> tuple[str, ...]:
    rng = random.Random(seed)
    rng.shuffle(parts)
    return tuple(parts[:SIZE])


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def knowledge() -> tuple[str, ...]:
    parts = [
        opener.format(topic=topic, Topic=_capital(topic), kb=kb, advice=advice) + closer
        for (topic, kb, advice), opener, closer in itertools.product(
            KNOWLEDGE_TOPICS, KNOWLEDGE_OPENERS, KNOWLEDGE_CLOSERS
        )
    ]
    return _drawn(parts, "knowledge")


def sentiment() -> tuple[str, ...]:
    parts = [
        lead.format(
            moment=moment + when,
            Moment=_capital(moment) + when,
            action=action,
            Action=_capital(action),
        )
        for (moment, action), lead, when in itertools.product(
            SENTIMENT_MOMENTS, SENTIMENT_LEADS, SENTIMENT_WHEN
        )
    ]
    return _drawn(parts, "sentiment")


def compliance() -> tuple[str, ...]:
    parts = [
        lead.format(rule=rule, what=what, What=_capital(what)) + when
        for (rule, what), lead, when in itertools.product(
            COMPLIANCE_RULES, COMPLIANCE_LEADS, COMPLIANCE_WHEN
        )
    ]
    return _drawn(parts, "compliance")


def summaries() -> tuple[tuple, ...]:
    """(text, wrap-up codes, reason, resolution, follow-up or None) of each summary."""
    parts = [
        (f"{who} {what}. {_capital(resolution)}.{after}", codes, reason, outcome, follow_up)
        for (what, resolution, codes, reason, outcome, follow_up), who, after in itertools.product(
            SUMMARY_CASES, SUMMARY_WHO, SUMMARY_AFTER
        )
    ]
    rng = random.Random("summaries")
    rng.shuffle(parts)
    return tuple(parts[:SIZE])
