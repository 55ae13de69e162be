/* ReportError for the snapuq-tflm test harness.
 *
 * TfLiteContext::ReportError is a C variadic function; stable Rust can call one but cannot
 * define one, so the harness's implementation lives here: it formats the message exactly as a
 * TFLM error reporter would (vsnprintf) and hands the finished string to the Rust harness. */
#include <stdarg.h>
#include <stdio.h>

struct TfLiteContext;

/* Defined in tflm/src/harness.rs. */
void snapuq_harness_record(struct TfLiteContext* context, const char* message);

void snapuq_harness_report_error(struct TfLiteContext* context, const char* format, ...) {
  char message[512];
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);
  snapuq_harness_record(context, message);
}
