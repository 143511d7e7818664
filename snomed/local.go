package snomed

// The project's own code systems: the fixed ones of NAVIGATION-API.md and
// the two Signpost adds for decisions and roles that have no SNOMED CT
// concept in the verified set (docs/terminology.md lists every code). The
// canonical URL of each is [base]/CodeSystem/[id].

type localConcept struct {
	Code, Display, Definition string
	// Level is the patient-need-group property (low, moderate, high).
	Level string
}

type localSystem struct {
	ID, Name, Title, Description string
	Concepts                     []localConcept
}

// Local code system ids.
const (
	NavigationTask     = "navigation-task"
	NavigationInput    = "navigation-input"
	NavigationOutput   = "navigation-output"
	NavigationUrgency  = "navigation-urgency"
	NavigationCategory = "navigation-category"
	NavigationStatus   = "navigation-status"
	PatientNeedGroup   = "patient-need-group"
	NavigatorTier      = "navigator-tier"
	ContactRoute       = "contact-route"
	NavigationDecision = "navigation-decision"
	NavigationRole     = "navigation-role"
)

var localSystems = []localSystem{
	{ID: NavigationTask, Name: "NavigationTask", Title: "Navigation task",
		Description: "Task.code of care navigation Tasks.",
		Concepts: []localConcept{
			{"navigate", "Navigate", "A request for help to be navigated: assessed, prioritised and allocated to the most suitable person, team or service.", ""},
			{"clinician-review", "Clinician review", "An escalation or a manual-review request for a clinician to decide.", ""},
		}},
	{ID: NavigationInput, Name: "NavigationInput", Title: "Navigation input",
		Description: "Task.input types of a navigation request: the structured questions asked on every contact route.",
		Concepts: []localConcept{
			{"contact-route", "Contact route", "Phone, online, walk-in or referral (valueCode from contact-route).", ""},
			{"request-type", "Request type", "Clinical or administrative (valueCode clinical | administrative).", ""},
			{"admin-kind", "Administrative request kind", "Fit note, repeat prescription, test result, insurance report or other (valueCode).", ""},
			{"informant", "Informant", "Who is providing the information, e.g. a carer (valueReference RelatedPerson).", ""},
			{"problem", "Problem", "What the patient needs help with (valueString).", ""},
			{"symptom", "Symptom", "A symptom, as a SNOMED CT finding (valueCodeableConcept).", ""},
			{"duration", "Duration", "How long the patient has had the problem (valueDuration).", ""},
			{"asked-before", "Asked before", "Whether the patient has asked the practice about this before (valueBoolean).", ""},
			{"trend", "Trend", "Getting worse, staying the same or getting better (valueCode worse | same | better).", ""},
			{"tried", "Tried already", "What the patient has tried already (valueString).", ""},
			{"seen-elsewhere", "Seen elsewhere", "A service already seen about this, as a SNOMED CT service concept (valueCodeableConcept).", ""},
			{"ice", "Ideas, concerns and expectations", "Anything the patient wants to tell the practice (valueString).", ""},
			{"preferred-mode", "Preferred consultation mode", "Face to face, telephone, video or online message (valueCode).", ""},
			{"preferred-practitioner", "Preferred practitioner", "The professional the patient would prefer (valueReference Practitioner or PractitionerRole).", ""},
			{"unavailable", "Unavailable", "Times the patient is not available (valuePeriod).", ""},
			{"communication-need", "Communication need", "A communication or access need, as a SNOMED CT concept (valueCodeableConcept).", ""},
			{"contact-phone", "Contact phone", "The confirmed phone number (valueString).", ""},
			{"sms-consent", "SMS consent", "Consent to receive text messages (valueBoolean).", ""},
			{"patient-urgency", "Patient's view of urgency", "How urgent the patient thinks the request is (valueCode from navigation-urgency).", ""},
			{"escalating-concern", "Escalating concern", "Escalating parental or carer concern (valueBoolean).", ""},
			{"automated-decision-consent", "Automated decision consent", "The patient agrees to an automated decision (valueBoolean).", ""},
			{"share-consent", "Consent to share with the service", "The patient agrees that their details are shared with the service they are referred to (valueBoolean); without it no BaRS referral is sent.", ""},
		}},
	{ID: NavigationOutput, Name: "NavigationOutput", Title: "Navigation output",
		Description: "Task.output types of a navigated Task.",
		Concepts: []localConcept{
			{"allocation", "Allocation", "The allocation ServiceRequest.", ""},
			{"decision", "Decision", "The coded decision (a SNOMED CT procedure or a navigation-decision code).", ""},
			{"urgency", "Urgency", "The assessed urgency (navigation-urgency).", ""},
			{"category", "Category", "The navigation category of the decision (navigation-category).", ""},
			{"rule", "Rule", "A safety or protocol rule that applied to the decision.", ""},
			{"protocol-version", "Protocol version", "The version of the practice protocol that decided.", ""},
			{"automated", "Automated", "Whether the decision was made by the protocol without a person.", ""},
			{"safety-netting", "Safety-netting", "The safety-netting advice given to the patient.", ""},
			{"rationale", "Rationale", "Why the decision was made.", ""},
		}},
	{ID: NavigationUrgency, Name: "NavigationUrgency", Title: "Navigation urgency",
		Description: "How soon a request must be dealt with.",
		Concepts: []localConcept{
			{"emergency", "Emergency", "Needs emergency services now.", ""},
			{"same-day", "Same day", "Needs to be seen or dealt with today.", ""},
			{"within-week", "Within a week", "Needs to be dealt with this week.", ""},
			{"routine", "Routine", "Can wait beyond a week.", ""},
		}},
	{ID: NavigationCategory, Name: "NavigationCategory", Title: "Navigation category",
		Description: "The kind of destination a request is allocated to (ServiceRequest.category).",
		Concepts: []localConcept{
			{"emergency", "Emergency", "Emergency services (999, A&E).", ""},
			{"clinician", "Practice clinician", "A clinician of the practice.", ""},
			{"practice-team", "Practice team", "The wider practice or PCN team, not a GP.", ""},
			{"external-referral", "External referral", "A service outside the practice, referred to by the practice.", ""},
			{"signpost", "Signpost", "A service the patient contacts themselves (self-referral).", ""},
			{"self-care", "Self-care", "The patient manages the problem themselves with advice.", ""},
			{"administrative", "Administrative", "An administrative request handled by the practice team.", ""},
		}},
	{ID: NavigationStatus, Name: "NavigationStatus", Title: "Navigation status",
		Description: "Task.businessStatus of a navigation Task.",
		Concepts: []localConcept{
			{"captured", "Captured", "The request has been captured.", ""},
			{"awaiting-information", "Awaiting information", "More information has been asked of the patient.", ""},
			{"escalated", "Escalated", "The request has been escalated to a clinician.", ""},
			{"proposed", "Proposed", "An allocation has been proposed and awaits confirmation.", ""},
			{"allocated", "Allocated", "The patient has been allocated.", ""},
			{"declined", "Declined", "The patient declined the allocation.", ""},
			{"review-requested", "Review requested", "A manual review of the decision has been requested.", ""},
			{"closed", "Closed", "Nothing more is to be done.", ""},
			{"referral-accepted", "Referral accepted", "The service the patient was referred to accepted the referral (a BaRS response).", ""},
			{"referral-cancelled", "Referral cancelled", "The service that referred the patient to the practice cancelled the referral (a BaRS message).", ""},
		}},
	{ID: PatientNeedGroup, Name: "PatientNeedGroup", Title: "Patient need group",
		Description: "The 11 patient need groups (population segments) of the care navigation guide's Table 1, with their level of need.",
		Concepts: []localConcept{
			{"1", "Non-user", "", "low"},
			{"2", "Low need child", "", "low"},
			{"3", "Low need adult", "", "low"},
			{"4", "Multi-morbidity, low complexity", "", "low"},
			{"5", "Multi-morbidity, medium complexity", "", "moderate"},
			{"6", "Pregnancy, low complexity", "", "moderate"},
			{"7", "Pregnancy, high complexity", "", "moderate"},
			{"8", "Dominant psychiatric or behavioural condition", "", "moderate"},
			{"9", "Dominant major chronic condition", "", "moderate"},
			{"10", "Multi-morbidity, high complexity", "", "high"},
			{"11", "Frailty", "", "high"},
		}},
	{ID: NavigatorTier, Name: "NavigatorTier", Title: "Navigator tier",
		Description: "The tiers of the care navigation competency framework.",
		Concepts: []localConcept{
			{"essential", "Essential", "Essential (bronze): signposting to local services, supervised; e.g. GP receptionist, non-clinical navigator.", ""},
			{"enhanced", "Enhanced", "Enhanced (silver): more independent working and enhanced communication skills; e.g. care navigator.", ""},
			{"expert", "Expert", "Expert (gold): complex cases, developing services, mentoring others; e.g. navigator team leader.", ""},
		}},
	{ID: ContactRoute, Name: "ContactRoute", Title: "Contact route",
		Description: "How the patient contacted the practice.",
		Concepts: []localConcept{
			{"phone", "Phone", "By telephone.", ""},
			{"online", "Online", "Through an online form or consultation tool.", ""},
			{"walk-in", "Walk-in", "In person at the practice.", ""},
			{"referral", "Referral", "A referral from another service received as a BaRS message (the message is the Task's focus).", ""},
		}},
	{ID: NavigationDecision, Name: "NavigationDecision", Title: "Navigation decision",
		Description: "Allocation decisions with no SNOMED CT concept in Signpost's verified set. A later terminology-server check may map them to SNOMED CT.",
		Concepts: []localConcept{
			{"signposting", "Signposting to a service", "The patient is given the details of a service to contact themselves (generic signposting).", ""},
			{"signposting-nhs-111", "Signposting to NHS 111", "The patient is advised to contact NHS 111 themselves.", ""},
			{"self-care", "Self-care advice", "The patient is advised how to manage the problem themselves, with safety-netting.", ""},
			{"emergency-services", "Advised to call 999", "The patient is advised to call 999 for emergency services now.", ""},
			{"practice-team-other", "Allocation to the wider practice team", "Allocated to a member of the wider practice or PCN team not otherwise coded.", ""},
			{"referral-other", "Referral to another service", "Referred to a service outside the practice not otherwise coded.", ""},
			{"administrative-request", "Administrative request handled", "An administrative request (fit note, repeat prescription, test result, report) dealt with by the practice team.", ""},
		}},
	{ID: NavigationRole, Name: "NavigationRole", Title: "Navigation role",
		Description: "Performer roles with no SNOMED CT occupation in Signpost's verified set.",
		Concepts: []localConcept{
			{"social-prescribing-link-worker", "Social prescribing link worker", "Connects patients to community groups and services for practical, social and emotional support.", ""},
			{"care-navigator", "Care navigator", "A member of the practice team who navigates patients to the right person or service (any navigator tier).", ""},
			{"care-coordinator", "Care coordinator", "Coordinates care for patients with complex needs across services.", ""},
		}},
}

// localSystemByID returns the shipped definition of a local code system.
func localSystemByID(id string) (*localSystem, bool) {
	for i := range localSystems {
		if localSystems[i].ID == id {
			return &localSystems[i], true
		}
	}
	return nil, false
}
