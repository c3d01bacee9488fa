// Words people read, shared by the app's pages: one date-time format with its zone
// (2026-11-30 10:45 CET, in the user's time zone from their settings) and grouped numbers.
"use strict";

(function () {
  const TIME_ZONE = document.documentElement.dataset.timeZone || "UTC";
  const timeFormat = new Intl.DateTimeFormat("en-CA", {
    timeZone: TIME_ZONE, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short",
  });
  // The zone's abbreviation as the server writes it (from the zone database: CET, EST, BST):
  // each locale knows some abbreviations and writes "GMT+1" for the others.
  const zoneFormats = ["en-US", "en-GB"].map(
    (locale) => new Intl.DateTimeFormat(locale, { timeZone: TIME_ZONE, timeZoneName: "short" }),
  );

  function zoneName(date, fallback) {
    for (const format of zoneFormats) {
      const name = format.formatToParts(date).find((p) => p.type === "timeZoneName")?.value;
      if (name && !/^(GMT|UTC)[+-]/.test(name)) return name;
    }
    return fallback;
  }

  function when(value) {
    if (!value) return "";
    const date = value instanceof Date ? value : new Date(value);
    const parts = Object.fromEntries(timeFormat.formatToParts(date).map((p) => [p.type, p.value]));
    return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${zoneName(date, parts.timeZoneName)}`;
  }

  function number(value) {
    return Number(value).toLocaleString("en");
  }

  window.assistgovWords = { TIME_ZONE, when, number };
})();
