// Genkit capture (run via run.py): its own OTel spans (genkit:* attributes) exported over OTLP/HTTP.
// env: OPENAI_BASE_URL, OTLP_URL, SCENARIO (flow|tools)
import { genkit, z } from "genkit";
import { enableTelemetry, flushTracing } from "genkit/tracing";
import { openAI } from "@genkit-ai/compat-oai/openai";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";

await enableTelemetry({ serviceName: "capture-genkit",
                        spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: process.env.OTLP_URL }))] });
const ai = genkit({ plugins: [openAI({ apiKey: "sk-capture-not-a-key", baseURL: process.env.OPENAI_BASE_URL })] });
const getWeather = ai.defineTool(
  { name: "get_weather", description: "Weather for a city", inputSchema: z.object({ city: z.string() }),
    outputSchema: z.object({ city: z.string(), sky: z.string(), c: z.number() }) },
  async ({ city }) => ({ city, sky: "sunny", c: 22 }));
const supportFlow = ai.defineFlow("supportFlow", async (question) => {
  const options = { model: openAI.model("gpt-4o-mini"), prompt: question };
  if (process.env.SCENARIO === "tools") options.tools = [getWeather];
  return (await ai.generate(options)).text;
});
console.log(await supportFlow(process.env.SCENARIO === "tools" ? "What's the weather in Paris?"
                                                               : "What is the capital of France?"));
await flushTracing();
await new Promise((r) => setTimeout(r, 500));
process.exit(0);
