// The organization vocabularies' defaults, used until GET /api/settings/crm answers.
export const FALLBACK_CRM = {
  lead_statuses: [
    { key: "new", label: "New" },
    { key: "contacted", label: "Contacted" },
    { key: "interested", label: "Interested" },
    { key: "callback", label: "Call back" },
    { key: "not-interested", label: "Not interested" },
    { key: "converted", label: "Converted" },
    { key: "lost", label: "Lost" },
    { key: "do-not-call", label: "Do not call" },
  ],
  dispositions: [
    { key: "interested", label: "Interested" },
    { key: "callback", label: "Call back later", follow_up: true },
    { key: "not-interested", label: "Not interested" },
    { key: "no-answer", label: "No answer" },
    { key: "wrong-number", label: "Wrong number" },
    { key: "converted", label: "Converted / sale" },
    { key: "do-not-call", label: "Do not call" },
  ],
  pause_reasons: [
    { key: "break", label: "Break" },
    { key: "lunch", label: "Lunch" },
    { key: "meeting", label: "Meeting" },
    { key: "training", label: "Training" },
  ],
};
