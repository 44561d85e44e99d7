package demoagent

// question is one item of the built-in question set: a prompt and the exact
// answer an eval expects.
type question struct {
	prompt, answer string
}

// questions is the built-in question set used for answer quality and for
// the eval endpoint.
var questions = []question{
	{"What is the capital of France?", "Paris"},
	{"What is 7 times 8?", "56"},
	{"Which planet is known as the red planet?", "Mars"},
	{"What is the chemical symbol for gold?", "Au"},
	{"How many days are in a leap year?", "366"},
	{"Who wrote Hamlet?", "William Shakespeare"},
	{"What is the boiling point of water at sea level in Celsius?", "100"},
	{"What is the largest ocean on Earth?", "Pacific"},
	{"What is the square root of 144?", "12"},
	{"In which year did the first person walk on the Moon?", "1969"},
	{"What gas do plants absorb from the air?", "Carbon dioxide"},
	{"What is the capital of Japan?", "Tokyo"},
	{"How many continents are there?", "7"},
	{"What is the freezing point of water in Fahrenheit?", "32"},
	{"Which language is this orchestrator written in?", "Go"},
	{"What is 2 to the power of 10?", "1024"},
	{"What is the longest river in South America?", "Amazon"},
	{"What is the smallest prime number?", "2"},
	{"Which metal is liquid at room temperature?", "Mercury"},
	{"How many sides does a hexagon have?", "6"},
}

// lookup returns the question whose prompt is p.
func lookup(p string) (question, bool) {
	for _, q := range questions {
		if q.prompt == p {
			return q, true
		}
	}
	return question{}, false
}
